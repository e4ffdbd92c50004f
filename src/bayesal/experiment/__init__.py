"""Experiments: the YAML config schema, the resumable grid runner (local processes or
Ray), the results store."""

from bayesal.experiment.config import (
    DatasetConfig,
    ExperimentConfig,
    ModelConfig,
    PosteriorConfig,
    SnapshotConfig,
    StrategyConfig,
    config_from_dict,
    import_plugins,
    load_config,
)
from bayesal.experiment.results import (
    RESULT_COLUMNS,
    ResultsDirInUseError,
    assemble_results,
    trial_path,
)
from bayesal.experiment.runner import TrialRejectedWarning, check_experiment, run_experiment
from bayesal.experiment.snapshots import SnapshotRecorder
from bayesal.experiment.trial import (
    TrialResult,
    check_budget,
    compute_trial,
    load_trial_dataset,
    run_trial,
    save_trial,
)

__all__ = [
    "RESULT_COLUMNS",
    "ResultsDirInUseError",
    "TrialRejectedWarning",
    "DatasetConfig",
    "ExperimentConfig",
    "ModelConfig",
    "PosteriorConfig",
    "SnapshotConfig",
    "SnapshotRecorder",
    "StrategyConfig",
    "TrialResult",
    "assemble_results",
    "check_budget",
    "check_experiment",
    "compute_trial",
    "config_from_dict",
    "import_plugins",
    "load_config",
    "load_trial_dataset",
    "run_experiment",
    "run_trial",
    "save_trial",
    "trial_path",
]
