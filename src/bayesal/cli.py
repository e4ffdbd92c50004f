"""The ``bayesal`` command line: ``run`` an experiment config, ``report`` a results
directory, list the registered ``strategies``, ``posteriors``, ``datasets`` and
``models``.

Errors that bayesal raises on purpose (:class:`~bayesal.errors.BayesalError`: a bad
config, a missing file, ...) print one line to stderr and exit with status 2, without a
traceback. So do errors of the file system (an :class:`OSError` that carries an
``errno``: ``--out`` under a file, no permission, a read-only file system, a full
disk): ``bayesal: error: <path>: <cause>``. Their cause is the machine, not bayesal, and
the files already written are whole (every write is atomic). Anything else is a bug and
propagates with its traceback, including an ``OSError`` without an ``errno``, which
Python code (not the operating system) raised.
"""

from __future__ import annotations

import errno
import functools
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TextIO, TypeVar

import click

from bayesal import __version__
from bayesal.errors import BayesalError

if TYPE_CHECKING:
    from bayesal.experiment.config import ExperimentConfig


#: What to add to the operating system's words where they leave the reader guessing.
_OS_HINTS = {
    errno.EEXIST: "a file is where a directory is needed",
    errno.ENOTDIR: "a part of this path is a file, not a directory",
}


def _os_error_line(exc: OSError) -> str:
    """The one line for an error of the file system: ``<path>: <cause>`` (``<path> ->
    <path2>`` for a rename), the cause in the operating system's words."""
    if exc.errno is None:
        cause = str(exc)
    else:
        cause = exc.strerror or os.strerror(exc.errno)
        if exc.errno in _OS_HINTS:
            cause = f"{cause} ({_OS_HINTS[exc.errno]})"
    where = [
        os.fsdecode(f) if isinstance(f, str | bytes | os.PathLike) else str(f)
        for f in (exc.filename, exc.filename2)
        if f is not None
    ]
    return f"{' -> '.join(where)}: {cause}" if where else cause


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BayesalError as exc:
            click.echo(f"bayesal: error: {exc}", err=True)
            ctx.exit(2)
        except OSError as exc:
            # No errno: raised by Python code, not the OS, so a bug: keep the traceback.
            # EPIPE (``bayesal strategies | head``): click's own quiet handling.
            if exc.errno is None or exc.errno == errno.EPIPE:
                raise
            click.echo(f"bayesal: error: {_os_error_line(exc)}", err=True)
            ctx.exit(2)


def _load_config_with_notes(config: Path, overrides: dict[str, Any]) -> ExperimentConfig:
    """``load_config``, its :class:`~bayesal.experiment.config.ConfigNote` warnings (what
    validation changed, e.g. snapshot rounds dropped by ``--rounds``) printed as
    ``bayesal: note: ...`` lines on stderr; other warnings pass through."""
    from bayesal.experiment import load_config
    from bayesal.experiment.config import ConfigNote

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigNote)
        cfg = load_config(config, overrides)
    for item in caught:
        if issubclass(item.category, ConfigNote):
            click.echo(f"bayesal: note: {item.message}", err=True)
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return cfg


@contextmanager
def _warnings_as_lines(
    category: type[Warning], notes: tuple[type[Warning], ...] = ()
) -> Iterator[None]:
    """Print warnings of ``category`` as one ``bayesal: warning: ...`` line on stderr (and
    those of ``notes`` as ``bayesal: note: ...``), as they happen; others as usual."""
    show = warnings.showwarning
    as_lines = category

    def one_line(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if notes and issubclass(category, notes):
            click.echo(f"bayesal: note: {message}", err=True)
        elif issubclass(category, as_lines):
            click.echo(f"bayesal: warning: {message}", err=True)
        else:
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = one_line
    try:
        yield
    finally:
        warnings.showwarning = show


def _split_names(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("give at least one strategy name or label")
    return names


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="bayesal")
def main() -> None:
    """Bayesian active learning: run acquisition-function studies and report them."""


@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Results directory (created; an existing one is resumed).",
)
@click.option("--seeds", type=int, default=None, help="Run seeds 0..N-1 instead of the config's.")
@click.option(
    "--strategies",
    callback=_split_names,
    default=None,
    help="Comma-separated labels of the config's arms (or registered strategy names).",
)
@click.option("--rounds", type=int, default=None, help="Number of acquisitions per run.")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Worker processes (default: the number of CPU cores); with --executor ray, at most "
    "this many trials in flight (default: no limit).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where trials run: local worker processes, or Ray tasks (needs bayesal[ray]).",
)
@click.option(
    "--ray-address",
    default=None,
    help="Ray cluster to join (ray.init(address=...)); default: start a local cluster.",
)
@click.option(
    "--score-executor",
    type=click.Choice(["local", "ray"]),
    default=None,
    help="Where each query scores its pool: in the trial's process, or in shards as Ray "
    "tasks (same picks; config scoring.executor). Not --executor, which places trials.",
)
@click.option(
    "--prefilter",
    default=None,
    metavar="auto|none|M",
    help="Joint strategies (BatchBALD) select among the M best items by BALD; auto: 2,000 "
    "for pools whose log-probs exceed 1 GiB; none: exact (config scoring.prefilter).",
)
@click.option(
    "--collect-only",
    is_flag=True,
    help="Run nothing: write results.csv and the summary from the trials already "
    "finished (to look at a long run in progress, or keep a partial grid).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def run(
    config: Path,
    out_dir: Path,
    seeds: int | None,
    strategies: list[str] | None,
    rounds: int | None,
    workers: int | None,
    executor: str,
    ray_address: str | None,
    score_executor: str | None,
    prefilter: str | None,
    collect_only: bool,
    quiet: bool,
) -> None:
    """Run every strategy x seed of CONFIG, write OUT/results.csv and a summary."""
    from bayesal.errors import IncompleteResultsError
    from bayesal.experiment import run_experiment
    from bayesal.report import write_summary
    from bayesal.report.results_io import has_test_metrics

    overrides: dict[str, Any] = {}
    if seeds is not None:
        overrides["seeds"] = seeds
    if strategies is not None:
        overrides["strategies"] = strategies
    if rounds is not None:
        overrides["rounds"] = rounds
    if score_executor is not None:
        overrides["scoring.executor"] = score_executor
    if prefilter is not None:
        overrides["scoring.prefilter"] = _prefilter_value(prefilter)
    if ray_address is not None and executor != "ray":
        if score_executor != "ray":
            raise click.BadParameter(
                "needs --executor ray or --score-executor ray", param_hint="--ray-address"
            )
        overrides["scoring.ray_address"] = ray_address  # trials here, scoring there
    cfg = _load_config_with_notes(config, overrides)
    scores_on_ray = cfg.scoring is not None and cfg.scoring.executor == "ray"
    if workers is None and executor == "local":
        # Each worker process would start its own local Ray cluster to score on.
        alone = scores_on_ray and cfg.scoring is not None and cfg.scoring.ray_address is None
        workers = 1 if alone else (os.cpu_count() or 1)
    if workers is not None and workers < 1:
        raise click.BadParameter(f"must be >= 1, got {workers}", param_hint="--workers")
    from bayesal.experiment.runner import NoTestSetWarning, TrialRejectedWarning

    with _warnings_as_lines(TrialRejectedWarning, notes=(NoTestSetWarning,)):
        results = run_experiment(
            cfg,
            out_dir,
            workers=workers,
            progress=not quiet,
            executor=executor,  # type: ignore[arg-type]
            ray_address=ray_address,
            collect_only=collect_only,
        )
    if not has_test_metrics(results):
        click.echo(
            f"results: {results} (no test set: label counts and acquired ids only; give the "
            "dataset test_path or test_fraction for accuracy tables)"
        )
        return
    try:
        write_summary(out_dir)
    except IncompleteResultsError as exc:  # the trials are saved; the table waits for the rest
        from bayesal.report.tables import remove_summary_files

        stale = remove_summary_files(out_dir)  # they describe an older results.csv
        click.echo(f"bayesal: note: no summary yet: {exc}", err=True)
        if stale:
            click.echo(
                f"bayesal: note: removed the summary of the previous results.csv "
                f"({', '.join(p.name for p in stale)})",
                err=True,
            )
        click.echo(f"results: {results}")
        return
    if not quiet:
        summary = out_dir / "summary.md"
        if summary.is_file():
            click.echo(summary.read_text(encoding="utf-8"))
        click.echo(f"results: {results}")


def _prefilter_value(text: str) -> int | str | None:
    """``--prefilter``: ``auto``, ``none`` (exact) or a candidate count."""
    lowered = text.strip().lower()
    if lowered == "auto":
        return "auto"
    if lowered in ("none", "null", "exact"):
        return None
    try:
        return int(lowered)
    except ValueError:
        raise click.BadParameter(
            f"expected auto, none or a candidate count, got {text!r}", param_hint="--prefilter"
        ) from None


def _thresholds_value(text: str | None) -> tuple[float, ...] | None:
    """``--thresholds``: comma-separated accuracies in (0, 1]."""
    if text is None:
        return None
    from bayesal.thresholds import parse_thresholds

    try:
        return parse_thresholds(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--thresholds") from None


@main.command()
@click.argument("results_dir", type=click.Path(path_type=Path))
@click.option(
    "--thresholds",
    metavar="T1,T2,...",
    help="Test accuracies of the labels-to-t, labels-saved and paired tables, as "
    "fractions, e.g. 0.8,0.9 (default: the config's report.thresholds, else 0.9,0.95).",
)
def report(results_dir: Path, thresholds: str | None) -> None:
    """Write figures and tables for RESULTS_DIR (a directory made by `bayesal run`)."""
    from bayesal.report import write_report
    from bayesal.report.paired import verdict_lines

    for path in write_report(results_dir, thresholds=_thresholds_value(thresholds)):
        click.echo(f"wrote {path}")
    for line in verdict_lines(results_dir):
        click.echo(line)


_plugin_option = click.option(
    "--plugin",
    "plugins",
    multiple=True,
    metavar="MODULE",
    help="Import this module first, so that what it registers is listed (repeatable).",
)


def _list_names(kind: str, plugins: tuple[str, ...]) -> None:
    from bayesal.experiment.config import import_plugins
    from bayesal.registry import get_registry, registry_snapshot

    import_plugins(plugins)
    registry_snapshot()  # imports every registry
    for name in get_registry(kind).names():
        click.echo(name)


@main.command()
@_plugin_option
@click.option(
    "--task",
    type=click.Choice(["classification", "multilabel", "regression", "segmentation"]),
    default=None,
    help="List only the built-in strategies that apply to this task (docs/tasks.md).",
)
def strategies(plugins: tuple[str, ...], task: str | None) -> None:
    """List the registered acquisition strategy names, one per line (with --task, the
    built-in ones that apply to that task; plugin strategies apply to classification)."""
    if task is None or task == "classification":
        _list_names("strategy", plugins)
        return
    from bayesal.tasks.table import strategies_for

    for name in strategies_for(task):
        click.echo(name)


@main.command()
@_plugin_option
def posteriors(plugins: tuple[str, ...]) -> None:
    """List the registered posterior approximation names, one per line."""
    _list_names("posterior", plugins)


@main.command()
@_plugin_option
def datasets(plugins: tuple[str, ...]) -> None:
    """List the registered dataset names, one per line."""
    _list_names("dataset", plugins)


@main.command()
@_plugin_option
def models(plugins: tuple[str, ...]) -> None:
    """List the registered model names, one per line."""
    _list_names("model", plugins)


@main.command("stopping-rules")
@_plugin_option
def stopping_rules(plugins: tuple[str, ...]) -> None:
    """List the registered stopping rule names, one per line."""
    _list_names("stopping rule", plugins)


# --------------------------------------------------------------------------- sessions


@main.group()
def session() -> None:
    """Label your own data: a labelling session (SQLite file in a directory)."""


def _open_session(directory: Path) -> Any:
    from bayesal.session import LabellingSession

    return LabellingSession.open(directory)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _session_errors(command: Callable[_P, _R]) -> Callable[_P, _R]:
    """SQLite's errors on the session file of a command's ``directory`` (a full disk, a
    damaged file, a busy database) as one :class:`~bayesal.session.store.StoreError`
    line; an integrity error is a bug and keeps its traceback."""

    @functools.wraps(command)
    def wrapped(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        import sqlite3

        try:
            return command(*args, **kwargs)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:
            from bayesal.session.store import DB_NAME, sqlite_error

            directory = Path(str(kwargs.get("directory", ".")))
            raise sqlite_error(exc, directory / DB_NAME) from None

    return wrapped


@session.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--config",
    "config",
    required=True,
    type=click.Path(path_type=Path),
    help="Session config (YAML): data, labels, model, posterior, strategy, stopping.",
)
@_session_errors
def session_init(directory: Path, config: Path) -> None:
    """Create the session DIRECTORY from a config; ranks the first queue."""
    from bayesal.session import LabellingSession

    opened = LabellingSession.init(
        directory, config, progress=lambda line: click.echo(line, err=True)
    )
    status = opened.status()
    click.echo(
        f"session {directory}: {status.num_items} items, {status.num_labelled} labelled, "
        f"{len(opened.label_names)} labels; next: bayesal serve {directory}"
    )


@session.command("next")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--annotator", default="default", show_default=True, help="Who labels.")
@_session_errors
def session_next(directory: Path, annotator: str) -> None:
    """Lease the next item to ANNOTATOR and print its id, ref and the model's guess."""
    item = _open_session(directory).next_item(annotator)
    if item is None:
        click.echo("nothing to label: every item is labelled or leased", err=True)
        raise SystemExit(1)
    guess = ""
    if item.predicted is not None:
        prob = "" if item.predicted_prob is None else f" ({item.predicted_prob:.2f})"
        guess = f"\t{item.predicted}{prob}"
    elif item.guess is not None and "labels" in item.guess:  # multi-label: the classes
        guess = "\t" + (",".join(item.guess["labels"]) or "(none)")
    elif item.guess is not None and "mask" in item.guess:  # segmentation: a mask
        g = item.guess
        guess = f"\tpredicted mask (confidence {g['confidence']:.2f}; export-masks / the page)"
    elif item.guess is not None:  # regression: the mean and its 90% interval
        g = item.guess
        guess = f"\t{g['mean']:.4g} [{g['low']:.4g}, {g['high']:.4g}]"
    click.echo(f"{item.item_id}\t{item.ref}{guess}")


@session.command("label")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("item")
@click.argument("label")
@click.option("--annotator", default="default", show_default=True, help="Who labelled it.")
@click.option(
    "--correct",
    is_flag=True,
    help="Replace another annotator's label of ITEM (a correction, recorded as yours; "
    "resolve: first only); without it their label stays and yours is kept beside it as "
    "an annotation.",
)
@click.option("--unsure", is_flag=True, help="Flag your label as unsure.")
@click.option("--comment", default=None, help="A comment on the item, kept with your label.")
@_session_errors
def session_label(
    directory: Path,
    item: str,
    label: str,
    annotator: str,
    correct: bool,
    unsure: bool,
    comment: str | None,
) -> None:
    """Record LABEL for ITEM (an item id): a class name or index; multi-label: names
    separated by commas ('' for none); regression: a number. An item leased to another
    annotator is refused; another annotator's annotation is never overwritten: yours is
    added beside it, and the session's resolve rule decides the item's label."""
    opened = _open_session(directory)
    event = opened.label(
        item,
        label,
        annotator,
        source="cli",
        correct=correct,
        unsure=unsure or None,
        comment=comment,
    )
    given = _shown(opened.display_label(event.value if event.label is None else event.label))
    resolved = opened.store.conn.execute(
        "SELECT event_id FROM current_labels WHERE item_id = ?", (event.item_id,)
    ).fetchone()
    if resolved is None:
        click.echo(
            f"item {event.item_id}: your {given} is recorded (event {event.event_id}); the "
            "annotations disagree: the item is in conflict until a reviewer resolves it "
            "(bayesal session conflicts)"
        )
        return
    if int(resolved[0]) != event.event_id:
        by = opened.store.event(int(resolved[0]))
        shown = _shown(opened.display_label(by.value if by.label is None else by.label))
        click.echo(
            f"item {event.item_id}: keeps {shown} by {by.annotator} (event {by.event_id}); "
            f"your {given} is recorded as an annotation (event {event.event_id})"
            + ("; --correct replaces their label" if opened.config.resolve == "first" else "")
        )
        return
    corrected = "" if event.corrects is None else f", corrects event {event.corrects}"
    click.echo(f"item {event.item_id}: {given} (event {event.event_id}{corrected})")


def _shown(label: object) -> str:
    """A label for a line of output: a name, names joined by commas, a number."""
    if isinstance(label, list):
        return "{" + ",".join(label) + "}"
    return str(label)


@session.command("history")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--annotator", default="default", show_default=True)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@_session_errors
def session_history(
    directory: Path, annotator: str, limit: int, offset: int, as_json: bool
) -> None:
    """ANNOTATOR's labels, newest first (edit one with `bayesal session edit`)."""
    import datetime as dt
    import json

    for row in _open_session(directory).history(annotator, limit, offset):
        if as_json:
            click.echo(json.dumps(row))
            continue
        when = dt.datetime.fromtimestamp(row["time"], tz=dt.timezone.utc).isoformat()
        marks = [
            m
            for m, on in (
                ("undone", row["undone"]),
                (f"edited by event {row['corrected_by']}", row["corrected"]),
                ("unsure", row["unsure"]),
            )
            if on
        ]
        click.echo(
            f"event {row['event_id']}\titem {row['item_id']}\t{_shown(row['label'])}\t{when}"
            + (f"\t({', '.join(marks)})" if marks else "")
        )


@session.command("edit")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("event", type=int)
@click.argument("label")
@click.option("--annotator", default="default", show_default=True)
@_session_errors
def session_edit(directory: Path, event: int, label: str, annotator: str) -> None:
    """Change ANNOTATOR's label event EVENT to LABEL (a new event naming EVENT)."""
    opened = _open_session(directory)
    new = opened.edit(event, label, annotator, source="cli")
    given = _shown(opened.display_label(new.value if new.label is None else new.label))
    click.echo(f"item {new.item_id}: {given} (event {new.event_id}, corrects event {event})")


@session.command("conflicts")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Also the items whose annotators disagree but the rule resolved (resolve: first).",
)
@_session_errors
def session_conflicts(directory: Path, as_json: bool, every: bool) -> None:
    """Items whose annotations disagree and wait for a reviewer."""
    import json

    rows = _open_session(directory).conflicts(disagreements=every)
    for row in rows:
        if as_json:
            click.echo(json.dumps(row))
            continue
        given = ", ".join(f"{a['annotator']}: {_shown(a['label'])}" for a in row["annotations"])
        nos = ", ".join(f"{g['annotator']}: not {g['label']}" for g in row["negatives"])
        now = "" if row["label"] is None else f" (resolved: {_shown(row['label'])})"
        click.echo(
            f"item {row['item_id']}\t{row['ref']}\t{given}" + (f"; {nos}" if nos else "") + now
        )
    if not as_json:
        click.echo(f"{len(rows)} {'disagreements' if every else 'conflicts'}", err=True)


@session.command("resolve")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("item")
@click.argument("label")
@click.option("--reviewer", required=True, help="Who decides (a reviewer).")
@click.option("--comment", default=None, help="Why (kept with the decision).")
@_session_errors
def session_resolve(
    directory: Path, item: str, label: str, reviewer: str, comment: str | None
) -> None:
    """A reviewer decides ITEM's label (resolves a conflict, under any resolve rule)."""
    opened = _open_session(directory)
    event = opened.resolve_conflict(item, label, reviewer, source="cli", comment=comment)
    given = _shown(opened.display_label(event.value if event.label is None else event.label))
    click.echo(f"item {event.item_id}: {given} by reviewer {reviewer} (event {event.event_id})")


@session.command("no")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("item")
@click.argument("label")
@click.option("--annotator", default="default", show_default=True)
@_session_errors
def session_no(directory: Path, item: str, label: str, annotator: str) -> None:
    """Record that ITEM is not LABEL (a negative observation, not a label)."""
    opened = _open_session(directory)
    negative = opened.negative(item, label, annotator, source="cli")
    click.echo(f"item {item}: not {label} (negative observation {negative})")


@session.command("note")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("item")
@click.option("--annotator", default="default", show_default=True)
@click.option("--unsure/--sure", default=True, show_default=True)
@click.option("--comment", default=None)
@_session_errors
def session_note(
    directory: Path, item: str, annotator: str, unsure: bool, comment: str | None
) -> None:
    """Flag ITEM as unsure and/or comment on it, without labelling it."""
    note = _open_session(directory).note(
        item, annotator, unsure=unsure, comment=comment, source="cli"
    )
    click.echo(f"item {item}: note {note} ({'unsure' if unsure else 'sure'})")


@session.command("candidates")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("label")
@click.option("-n", "count", default=20, show_default=True, type=click.IntRange(1, 10_000))
@_session_errors
def session_candidates(directory: Path, label: str, count: int) -> None:
    """The unlabelled items the model thinks most probably are LABEL (for yes/no)."""
    for view in _open_session(directory).yes_no_candidates(label, count):
        click.echo(f"{view.item_id}\t{view.ref}")


@session.command("undo")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--annotator", default="default", show_default=True)
@_session_errors
def session_undo(directory: Path, annotator: str) -> None:
    """Take back ANNOTATOR's latest label."""
    event = _open_session(directory).undo(annotator, source="cli")
    if event is None:
        click.echo(f"nothing to undo for {annotator}", err=True)
        raise SystemExit(1)
    click.echo(f"undid event {event.undoes} (item {event.item_id})")


@session.command("retrain")
@click.argument("directory", type=click.Path(path_type=Path))
@_session_errors
def session_retrain(directory: Path) -> None:
    """Retrain now (waits for a running retrain) and rank a new queue."""
    row = _open_session(directory).retrain()
    click.echo(f"round {row.round}: trained on {row.n_labels} labels")


@session.command("status")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@_session_errors
def session_status(directory: Path, as_json: bool) -> None:
    """Labels so far (per class, per annotator), the model, the stopping rules."""
    import json

    status = _open_session(directory).status()
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=1))
        return
    click.echo(f"labelled: {status.num_labelled} of {status.num_items}")
    click.echo("per class: " + ", ".join(f"{k} {v}" for k, v in status.per_class.items()))
    click.echo(
        "per annotator: "
        + (", ".join(f"{k} {v}" for k, v in status.per_annotator.items()) or "none")
    )
    if status.round is None:
        click.echo("model: none yet")
    else:
        click.echo(
            f"model: round {status.round}, trained on {status.round_labels} labels; "
            f"{status.labels_since_round} new since (retrain every {status.retrain_every})"
        )
    if status.estimated_accuracy is not None:
        click.echo(
            f"estimated accuracy: {status.estimated_accuracy:.1%} on the last "
            f"{status.estimated_accuracy_from} labelled items (queried items: hard ones)"
        )
    if status.model_agreement is not None:
        click.echo(f"model agreement with the previous round (kappa): {status.model_agreement:.3f}")
    agreement = status.agreement
    if agreement["kappa"] is not None:
        click.echo(
            f"annotator agreement: {agreement['method']} kappa {agreement['kappa']:.3f} over "
            f"{agreement['items']} items labelled by 2+ annotators"
        )
    elif status.overlap > 0 or agreement["items"]:
        why = "regression labels" if status.task == "regression" else "none yet"
        click.echo(f"annotator agreement: {why} ({agreement['items']} items by 2+ annotators)")
    if status.resolve != "first" or status.conflicts:
        click.echo(
            f"conflicts: {status.conflicts} waiting for a reviewer (resolve: {status.resolve})"
        )
    for name, decision in status.stopping:
        click.echo(f"stop rule {name}: {'STOP' if decision.stop else 'go on'} ({decision.reason})")


@session.command("export")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "label-studio"]),
    default="csv",
    show_default=True,
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="File to write.")
@click.option(
    "--annotations",
    is_flag=True,
    help="One row per annotation (item_id, annotator, label, time, role, unsure, comment) "
    "instead of the resolved label per item (CSV, Parquet).",
)
@click.option(
    "--negatives",
    is_flag=True,
    help="The negative observations (item_id, label, annotator, time) (CSV, Parquet).",
)
@_session_errors
def session_export(
    directory: Path, fmt: str, out: Path, annotations: bool, negatives: bool
) -> None:
    """Write the resolved labels, the annotations or the negative observations (CSV,
    Parquet), or Label Studio tasks (queue + every annotation with its author)."""
    from bayesal.session.exchange import export_labels, labelling_config_path

    what = "annotations" if annotations else "negatives" if negatives else "labels"
    if annotations and negatives:
        raise click.UsageError("--annotations and --negatives are two exports: give one")
    opened = _open_session(directory)
    click.echo(f"wrote {export_labels(opened, out, fmt, what=what)}")  # type: ignore[arg-type]
    if fmt == "label-studio":
        click.echo(f"wrote {labelling_config_path(out)} (the project's labelling config)")


@session.command("import")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--annotator", default=None, help="Annotator of rows that name none.")
@click.option(
    "--correct",
    is_flag=True,
    help="The file's labels replace labels other annotators gave (recorded corrections); "
    "without it those items keep their label and the file's is kept as an annotation.",
)
@_session_errors
def session_import(directory: Path, file: Path, annotator: str | None, correct: bool) -> None:
    """Import labels from FILE: a CSV (item_id or ref, label) or a Label Studio export.
    Two different labels for one item by one annotator are refused (nothing is imported,
    the rows are named)."""
    from bayesal.session.exchange import import_labels

    done = import_labels(_open_session(directory), file, annotator=annotator, correct=correct)
    parts = [f"{done.unchanged} unchanged"]
    if done.duplicates:
        parts.append(f"{done.duplicates} repeated rows")
    if done.kept:
        parts.append(
            f"{done.kept} kept as annotations: those items keep another annotator's label "
            "(--correct replaces it)"
        )
    click.echo(f"imported {done.recorded} labels ({'; '.join(parts)})")


@session.command("export-masks")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="An .npz file, or a new folder of <item_id>.png masks.",
)
@click.option(
    "--annotations", is_flag=True, help="Every annotator's mask, not the resolved one per item."
)
@_session_errors
def session_export_masks(directory: Path, out: Path, annotations: bool) -> None:
    """Write a segmentation session's masks: an .npz (item_ids, refs, masks [n, H, W]
    uint8, class_names) or a folder of 8-bit PNGs (pixel value = class index) with
    classes.json; written whole or not at all."""
    from bayesal.session.masks import export_masks

    click.echo(f"wrote {export_masks(_open_session(directory), out, annotations=annotations)}")


@session.command("import-masks")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--annotator", default="import", show_default=True, help="Whose masks they are.")
@_session_errors
def session_import_masks(directory: Path, source: Path, annotator: str) -> None:
    """Import segmentation masks from SOURCE: a folder of <item_id>.png (8-bit grey,
    pixel value = class index, the session's mask size) or an .npz with item_ids and
    masks. Every mask is checked first; a bad one imports nothing (it is named)."""
    from bayesal.session.masks import import_masks

    done = import_masks(_open_session(directory), source, annotator=annotator)
    click.echo(f"imported {done} masks as {annotator!r}")


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token",
    default=None,
    envvar="BAYESAL_TOKEN",
    help="Shared secret every request must carry (needed to bind beyond localhost).",
)
@click.option(
    "--annotator-tokens",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML/JSON mapping of token -> annotator name (each annotator their own token).",
)
@click.option("--no-retrain", is_flag=True, help="Never retrain in the background.")
@_session_errors
def serve(
    directory: Path,
    host: str,
    port: int,
    token: str | None,
    annotator_tokens: Path | None,
    no_retrain: bool,
) -> None:
    """Serve the labelling UI and its JSON API for the session DIRECTORY."""
    from bayesal.web.options import read_annotator_tokens, require_label_extra

    require_label_extra()  # `pip install 'bayesal[label]'`, not a traceback
    from bayesal.web.app import serve as serve_app

    _open_session(directory).close()  # a clear error before the server starts
    tokens = None if annotator_tokens is None else read_annotator_tokens(annotator_tokens)
    serve_app(
        directory,
        host=host,
        port=port,
        token=token,
        annotator_tokens=tokens,
        retrain=not no_retrain,
    )
