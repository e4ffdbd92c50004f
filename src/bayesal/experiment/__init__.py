"""Experiments: the YAML config schema, the resumable grid runner, the results store."""

from bayesal.experiment.config import (
    DatasetConfig,
    ExperimentConfig,
    ModelConfig,
    PosteriorConfig,
    SnapshotConfig,
    StrategyConfig,
    config_from_dict,
    load_config,
)
from bayesal.experiment.results import RESULT_COLUMNS, assemble_results, trial_path
from bayesal.experiment.runner import SnapshotRecorder, run_experiment, run_trial

__all__ = [
    "RESULT_COLUMNS",
    "DatasetConfig",
    "ExperimentConfig",
    "ModelConfig",
    "PosteriorConfig",
    "SnapshotConfig",
    "SnapshotRecorder",
    "StrategyConfig",
    "assemble_results",
    "config_from_dict",
    "load_config",
    "run_experiment",
    "run_trial",
    "trial_path",
]
