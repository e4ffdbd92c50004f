"""Tables and figures from a results directory (reads files only; trains nothing).

Entry points: :func:`load_results`, :func:`summary_table`, :func:`per_seed_table` (and
their Markdown renderers), :func:`write_summary`, :func:`plot_learning_curves`,
:func:`plot_acquisition_grid`, :func:`plot_bald_anatomy`, :func:`stopping_table` and
:func:`plot_stopping` (where stopping rules would have stopped), :func:`labels_saved_table`
and :func:`paired_table` (labels saved against random; strategies compared seed by
seed) and :func:`write_report` (all of the above in one call). See ``docs/report.md``
and ``docs/stopping.md``.
"""

from bayesal.report.build import write_report
from bayesal.report.curves import plot_learning_curves, strategy_colors
from bayesal.report.paired import (
    labels_saved_markdown,
    labels_saved_table,
    paired_markdown,
    paired_table,
    write_paired_files,
)
from bayesal.report.results_io import (
    REQUIRED_COLUMNS,
    load_results,
    load_snapshot,
    load_snapshots,
    parse_ids,
    snapshot_files,
    validate_results,
    validate_snapshot,
)
from bayesal.report.stopping import plot_stopping, stopping_table, write_stopping
from bayesal.report.tables import (
    per_seed_markdown,
    per_seed_table,
    summary_markdown,
    summary_table,
    write_summary,
)
from bayesal.report.two_moons import plot_acquisition_grid, plot_bald_anatomy

__all__ = [
    "REQUIRED_COLUMNS",
    "load_results",
    "load_snapshot",
    "load_snapshots",
    "labels_saved_markdown",
    "labels_saved_table",
    "paired_markdown",
    "paired_table",
    "parse_ids",
    "per_seed_markdown",
    "per_seed_table",
    "plot_acquisition_grid",
    "plot_bald_anatomy",
    "plot_learning_curves",
    "plot_stopping",
    "snapshot_files",
    "stopping_table",
    "strategy_colors",
    "summary_markdown",
    "summary_table",
    "validate_results",
    "validate_snapshot",
    "write_report",
    "write_paired_files",
    "write_stopping",
    "write_summary",
]
