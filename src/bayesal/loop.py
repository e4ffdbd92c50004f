"""One simulated active-learning run: the ask/tell learner driven by an oracle.

Round ``r`` (``0 .. rounds``): the learner trains fresh model(s) on the labelled ids,
they are evaluated on the test set (when there is one), then (except in the last round)
the learner is asked for ``acquisition_size`` ids and the oracle's labels are taught.
The default oracle is :class:`~bayesal.learner.SimulatedOracle` over the dataset's true
labels; the class-balanced initial set is drawn from those labels too (simulations only).

Seeding: see :mod:`bayesal.learner`. The initial labelled set and the models'
initialisation and training depend on the seed, the round and the labelled set only,
never on the strategy, so strategies compared on one seed start from the same labelled
set and the same first model (paired comparisons).

Stopping evidence (opt-in, ``stop_set_size``): a fixed *stop set* of pool ids is drawn
once per run from its own stream (:data:`STOP_SET_STREAM`, which no other choice
reads), and every round, after its acquisition, the round's posterior draw (the one the
strategy scored with) predicts it: the mean predictive entropy and BALD over the stop
set, and Cohen's kappa between the predicted classes (argmax of the MC-averaged
predictive) and the previous round's are recorded (:mod:`bayesal.stopping`). Nothing
else reads these values, so a run's picks and metrics are the same with and without.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from bayesal.acquisition import mutual_information, predictive_entropy
from bayesal.acquisition.base import Strategy
from bayesal.data.dataset import Dataset
from bayesal.data.pool import IdArray, balanced_initial_ids
from bayesal.data.task_dataset import dataset_task
from bayesal.device import DeviceLike
from bayesal.errors import InvalidInputError
from bayesal.learner import (
    _INITIAL,
    ActiveLearner,
    Oracle,
    SimulatedOracle,
    stream_seed,
)
from bayesal.posterior import POSTERIORS, PosteriorMethod
from bayesal.posterior.base import Posterior, PosteriorDraw
from bayesal.posterior.methods import EVAL_CHUNK_SIZE, predictive_log_probs
from bayesal.registry import is_import_path
from bayesal.stopping import cohen_kappa
from bayesal.training import TrainConfig

__all__ = [
    "EVAL_CHUNK_SIZE",
    "STOP_SET_STREAM",
    "RoundContext",
    "RoundRecord",
    "TASK_RUNS",
    "TaskRun",
    "predictive_log_probs",
    "run_active_learning",
    "draw_stop_set",
    "stream_seed",
]

#: The random stream of the stop set (first element of the SeedSequence spawn key):
#: apart from the learner's streams (0-7), so drawing it changes no other choice.
STOP_SET_STREAM = 64


@dataclass(frozen=True)
class RoundRecord:
    """The outcome of one round: test metrics of the model(s) trained on ``n_labels``
    labels, and the ids acquired afterwards (empty in the last round). Wall-clock times in
    seconds, disjoint: ``train_seconds`` fitting the round's model(s); ``eval_seconds``
    the test-set evaluation; ``score_seconds`` the pool subset draw, the posterior draw
    and the log-probs of the scored ids (and their scores for pointwise strategies);
    ``select_seconds`` the strategy's selection. Scoring and selection are 0 in the last
    round, which acquires nothing.

    Stopping evidence, None unless the run records it (``stop_set_size``): over the
    stop set, ``stop_agreement`` Cohen's kappa between this round's predicted classes
    and the previous round's (NaN in round 0), ``stop_mean_entropy`` and
    ``stop_mean_bald`` the mean predictive entropy and BALD of the round's posterior
    draw (nats).

    ``metrics``: for a task other than classification (``task=``), the task's test
    metrics by name (:data:`~bayesal.results_schema.TASK_METRIC_COLUMNS`: ``f1_micro``,
    ``f1_macro``, ``mean_average_precision``; ``rmse``, ``nll``, ``coverage_90``), with
    ``test_accuracy`` and ``test_nll`` NaN; None for classification."""

    round: int
    n_labels: int
    test_accuracy: float
    test_nll: float
    acquired_ids: tuple[int, ...]
    train_seconds: float
    score_seconds: float
    select_seconds: float
    eval_seconds: float
    stop_agreement: float | None = None
    stop_mean_entropy: float | None = None
    stop_mean_bald: float | None = None
    metrics: dict[str, float] | None = None


@dataclass
class RoundContext:
    """What an ``on_round`` callback sees after round ``record.round`` is complete.

    ``labelled_ids`` are the ids labelled *before* this round's acquisition (the training
    set of ``models``); ``record.acquired_ids`` the ids acquired in this round. ``draw``
    is the posterior draw used for scoring (created on demand in the last round, from
    the same seeded stream, so that callbacks see K samples in every round).
    """

    record: RoundRecord
    dataset: Dataset
    labelled_ids: IdArray
    models: list[nn.Module]
    posterior: Posterior
    num_samples: int
    learner: ActiveLearner
    _round: int = 0

    @property
    def draw(self) -> PosteriorDraw:
        """The round's posterior draw of ``num_samples`` parameter samples."""
        return self.learner.draw_for_round(self._round)


def _check_arguments(
    dataset: Dataset,
    posterior: str | PosteriorMethod,
    num_samples: int,
    ensemble_size: int,
    initial_labels: int,
    acquisition_size: int,
    rounds: int,
    pool_subset: int | None,
    seed: int,
) -> None:
    if not isinstance(posterior, PosteriorMethod) and not (
        posterior in POSTERIORS or is_import_path(posterior)
    ):
        raise InvalidInputError(
            f"posterior must be one of {tuple(POSTERIORS.names())} (or an import path), "
            f"got {posterior!r}"
        )
    for name, value, low in [
        ("num_samples", num_samples, 1),
        ("ensemble_size", ensemble_size, 1),
        ("initial_labels", initial_labels, 1),
        ("acquisition_size", acquisition_size, 1),
        ("rounds", rounds, 0),
        ("seed", seed, 0),
    ]:
        if value < low:
            raise InvalidInputError(f"{name} must be >= {low}, got {value}")
    needed = initial_labels + rounds * acquisition_size
    if needed > dataset.num_train:
        raise InvalidInputError(
            f"{initial_labels} initial labels + {rounds} rounds x {acquisition_size} need "
            f"{needed} training examples, but {dataset.name} has {dataset.num_train}; "
            "lower rounds or acquisition_size"
        )
    if pool_subset is not None and pool_subset < acquisition_size:
        raise InvalidInputError(
            f"pool_subset ({pool_subset}) must be >= acquisition_size ({acquisition_size})"
        )


def draw_stop_set(num_train: int, size: int, seed: int) -> IdArray:
    """The stop set of run ``seed``: ``min(size, num_train)`` distinct ids of the
    training pool (labelled or not, drawn once; sorted), from the stream
    :data:`STOP_SET_STREAM` of the seed. The same for every strategy of a seed."""
    if size < 1:
        raise InvalidInputError(f"stop_set_size must be >= 1, got {size}")
    rng = np.random.default_rng(stream_seed(seed, STOP_SET_STREAM))
    picks = rng.choice(num_train, size=min(size, num_train), replace=False)
    return np.sort(picks).astype(np.int64)


class _StopSetRecorder:
    """Predicts the stop set with each round's posterior draw; keeps the previous round's
    predicted classes for the agreement."""

    def __init__(self, inputs: Tensor, num_classes: int) -> None:
        self.inputs = inputs
        self.num_classes = num_classes
        self.previous: np.ndarray | None = None

    @torch.no_grad()
    def __call__(self, draw: PosteriorDraw) -> tuple[float, float, float]:
        """``(agreement, mean entropy, mean BALD)`` of one round; agreement NaN in the
        first round."""
        entropy_sum = bald_sum = 0.0
        predicted = []
        # A fixed chunk (not the run's chunk_size), so that the values do not depend on it.
        for start in range(0, len(self.inputs), EVAL_CHUNK_SIZE):
            log_probs_n_K_C = draw.log_probs(self.inputs[start : start + EVAL_CHUNK_SIZE])
            log_probs_n_K_C = log_probs_n_K_C.cpu().double()
            entropy_sum += float(predictive_entropy(log_probs_n_K_C).sum())
            bald_sum += float(mutual_information(log_probs_n_K_C).sum())
            # argmax of the MC-averaged predictive (log K is the same for every class)
            predicted.append(torch.logsumexp(log_probs_n_K_C, dim=1).argmax(-1).numpy())
        classes_N = np.concatenate(predicted).astype(np.int64)
        agreement = (
            math.nan
            if self.previous is None
            else cohen_kappa(self.previous, classes_N, self.num_classes)
        )
        self.previous = classes_N
        n = len(self.inputs)
        return agreement, entropy_sum / n, bald_sum / n


def _evaluate(learner: ActiveLearner, dataset: Dataset) -> tuple[float, float]:
    if len(dataset.test_y) == 0:  # no test set: a real user may have none
        return math.nan, math.nan
    # A fixed chunk (not the run's chunk_size), so that test metrics do not depend on it.
    log_probs_N_C = learner.fit().predict_log_probs(dataset.test_x, EVAL_CHUNK_SIZE).cpu()
    accuracy = (log_probs_N_C.argmax(-1) == dataset.test_y).double().mean().item()
    nll = -log_probs_N_C.gather(1, dataset.test_y[:, None]).double().mean().item()
    return accuracy, nll


class TaskRun:
    """How :func:`run_active_learning` runs a task type other than classification: the
    initial labelled set and the test metrics of every round. One instance per task in
    :data:`TASK_RUNS`; a task type added later adds its own."""

    def __init__(self, task: str, metric_names: tuple[str, ...], fixed_width: bool) -> None:
        self.task, self.metric_names, self.fixed_width = task, metric_names, fixed_width

    def learner_width(self, dataset: Dataset) -> int | None:
        """The learner's ``num_classes``: the dataset's (L labels) when the task fixes the
        network's output width, else None (regression: a network may return ``[N, 2]``
        or ``[N, 1]``, mean only, its noise then learned)."""
        return dataset.num_classes if self.fixed_width else None

    def initial_ids(self, dataset: Dataset, n: int, rng: np.random.Generator) -> IdArray:
        """``n`` distinct pool ids drawn uniformly at random (sorted): there are no classes
        to balance over (a multi-label row or a float target)."""
        if n > dataset.num_train:
            raise InvalidInputError(
                f"initial_labels ({n}) exceeds the {dataset.num_train} training examples"
            )
        return np.sort(rng.choice(dataset.num_train, size=n, replace=False)).astype(np.int64)

    def evaluate(self, learner: ActiveLearner, dataset: Dataset) -> dict[str, float]:
        """The task's metrics on the test set (NaN for each when there is none):
        :meth:`~bayesal.learner.ActiveLearner.evaluate`, from the posterior's K samples
        under the round's draw."""
        if len(dataset.test_y) == 0:
            return {name: math.nan for name in self.metric_names}
        metrics = learner.evaluate(dataset.test_x, dataset.test_y)
        return {name: float(metrics[name]) for name in self.metric_names}


#: The task types the loop runs besides classification, by name (``task=``).
TASK_RUNS: dict[str, TaskRun] = {
    "multilabel": TaskRun(
        "multilabel", ("f1_micro", "f1_macro", "mean_average_precision"), fixed_width=True
    ),
    "regression": TaskRun("regression", ("rmse", "nll", "coverage_90"), fixed_width=False),
    "segmentation": TaskRun("segmentation", ("miou", "pixel_accuracy"), fixed_width=True),
}


def _task_run(task: str, dataset: Dataset, stop_set_size: int | None) -> TaskRun | None:
    """The :class:`TaskRun` of ``task`` (None for classification), checked against the
    dataset's task."""
    have = dataset_task(dataset)
    if task != have:
        raise InvalidInputError(
            f"task {task!r}, but dataset {dataset.name!r} is a {have} dataset; give "
            f"task: {have} (or a {task} dataset)"
        )
    if task == "classification":
        return None
    if task not in TASK_RUNS:
        raise InvalidInputError(
            f"the loop runs task {task!r} not yet; tasks: classification, {', '.join(TASK_RUNS)}"
        )
    if stop_set_size is not None:
        raise InvalidInputError(
            f"stopping evidence (stop_set_size) is recorded for classification only, not "
            f"for task {task!r}"
        )
    return TASK_RUNS[task]


def run_active_learning(
    dataset: Dataset,
    strategy: Strategy,
    *,
    build_model: Callable[[int], nn.Module] | None,
    train_config: TrainConfig,
    initial_labels: int,
    acquisition_size: int,
    rounds: int,
    seed: int,
    posterior: str | PosteriorMethod = "mc_dropout",
    num_samples: int = 20,
    ensemble_size: int = 5,
    pool_subset: int | None = None,
    num_target_samples: int = 100,
    target_inputs: Tensor | None = None,
    chunk_size: int = 4096,
    on_round: Callable[[RoundContext], None] | None = None,
    progress: bool = False,
    oracle: Oracle | None = None,
    device: DeviceLike = "cpu",
    stop_set_size: int | None = None,
    scoring: Mapping[str, Any] | None = None,
    task: str = "classification",
) -> list[RoundRecord]:
    """Run ``rounds`` acquisitions and return ``rounds + 1`` records (rounds 0..rounds).

    Args:
        dataset: train pool (ids = rows of ``train_x``) and test set (may be empty:
            test metrics are then NaN).
        strategy: chooses positions among the scored ids; pointwise strategies are
            scored chunk by chunk with one posterior draw, so ``[N, K, C]`` of the pool
            is never held.
        build_model: ``seed -> fresh untrained model``; called every round (and once
            per member for an ensemble). None for a posterior that trains no network
            (``forest``).
        train_config: how each model is trained (:func:`bayesal.training.fit`).
        initial_labels: size of the class-balanced random initial labelled set.
        acquisition_size: ids labelled per round.
        rounds: number of acquisitions.
        seed: the run seed (>= 0) every random stream derives from.
        posterior: a registered posterior method name (``"mc_dropout"``: one model,
            ``num_samples`` dropout masks; ``"ensemble"``: ``ensemble_size``
            independently initialised and trained models), an import path, or a
            :class:`~bayesal.posterior.PosteriorMethod`.
        num_samples: K for MC dropout.
        ensemble_size: members of the deep ensemble.
        pool_subset: score only a fresh random subset of this many unlabelled ids per
            round (None: the whole unlabelled pool).
        num_target_samples: for strategies with ``needs_target`` (EPIG), the number of
            target inputs drawn from the unlabelled pool each round.
        target_inputs: a fixed target set ``[M, ...]`` instead of pool samples.
        chunk_size: inputs per forward pass when scoring.
        on_round: called with a :class:`RoundContext` after every round.
        progress: show a tqdm bar over rounds.
        oracle: labels acquired ids (default: the dataset's true labels).
        device: where training, scoring and evaluation run.
        stop_set_size: record stopping evidence on a stop set of this many pool ids
            (:func:`draw_stop_set`; the whole pool when it is smaller) in the records'
            ``stop_*`` fields; None (default): none. The evidence of round r is computed
            after its acquisition, from the posterior draw the strategy scored with
            (created from the same seeded stream in the last round), so it changes
            nothing else of the run.
        scoring: extra :class:`~bayesal.learner.ActiveLearner` arguments for large pools
            (``prefilter``, ``max_log_probs_bytes``, ``score_executor``, ``score_shards``,
            ``ray_address``; see ``docs/scale.md``); None: the learner's defaults.
        task: ``"classification"`` (default), or a task of :data:`TASK_RUNS`
            (``"multilabel"``, ``"regression"``) on a dataset of that task
            (:class:`~bayesal.data.task_dataset.TaskDataset`): the learner runs with
            ``task=``, the initial set is ``initial_labels`` ids drawn uniformly (no
            classes to balance), and each record's ``metrics`` holds the task's test
            metrics (``test_accuracy`` and ``test_nll`` NaN). No stopping evidence.

    Test metrics: accuracy and mean NLL of the eval-mode model (MC dropout: dropout off,
    the weight-scaling approximation) or of the mean of the members' probabilities.
    Another task's metrics: :meth:`TaskRun.evaluate`.
    """
    _check_arguments(
        dataset,
        posterior,
        num_samples,
        ensemble_size,
        initial_labels,
        acquisition_size,
        rounds,
        pool_subset,
        seed,
    )
    task_run = _task_run(task, dataset, stop_set_size)
    if task_run is not None:
        return _run_task(
            task_run,
            dataset,
            strategy,
            build_model=build_model,
            train_config=train_config,
            initial_labels=initial_labels,
            acquisition_size=acquisition_size,
            rounds=rounds,
            seed=seed,
            posterior=posterior,
            num_samples=num_samples,
            ensemble_size=ensemble_size,
            pool_subset=pool_subset,
            chunk_size=chunk_size,
            on_round=on_round,
            progress=progress,
            oracle=oracle,
            device=device,
            scoring=scoring,
        )
    posterior_params = {"members": ensemble_size} if posterior == "ensemble" else None
    learner = ActiveLearner(
        dataset.train_x,
        model=build_model,
        strategy=strategy,
        posterior=posterior,
        posterior_params=posterior_params,
        num_samples=num_samples,
        num_classes=dataset.num_classes,
        training=train_config,
        device=device,
        seed=seed,
        pool_subset=pool_subset,
        num_target_samples=num_target_samples,
        target_inputs=target_inputs,
        chunk_size=chunk_size,
        **dict(scoring or {}),
    )
    oracle = oracle if oracle is not None else SimulatedOracle(dataset.train_y)
    initial_rng = np.random.default_rng(stream_seed(seed, _INITIAL))
    initial = balanced_initial_ids(
        dataset.train_y, initial_labels, dataset.num_classes, initial_rng
    )
    learner.teach(initial, oracle(initial))
    stop_set: _StopSetRecorder | None = None
    if stop_set_size is not None:
        stop_ids = draw_stop_set(dataset.num_train, stop_set_size, seed)
        stop_set = _StopSetRecorder(
            dataset.train_x[torch.from_numpy(stop_ids)], dataset.num_classes
        )

    records: list[RoundRecord] = []
    for r in tqdm(range(rounds + 1), desc="rounds", leave=False, disable=not progress):
        labelled = learner.labelled_ids
        t0 = time.perf_counter()
        fitted = learner.fit()
        t1 = time.perf_counter()
        accuracy, nll = _evaluate(learner, dataset)
        t2 = time.perf_counter()
        acquired = np.zeros(0, dtype=np.int64)
        score_s = select_s = 0.0
        if r < rounds:
            acquired = learner.query(acquisition_size)
            score_s, select_s = learner.last_timings.score, learner.last_timings.select
            learner.teach(acquired, oracle(acquired))
        stop_values: dict[str, Any] = {}
        if stop_set is not None:
            agreement, entropy, bald = stop_set(learner.draw_for_round(r))
            stop_values = {
                "stop_agreement": agreement,
                "stop_mean_entropy": entropy,
                "stop_mean_bald": bald,
            }
        record = RoundRecord(
            round=r,
            n_labels=len(labelled),
            test_accuracy=accuracy,
            test_nll=nll,
            acquired_ids=tuple(int(i) for i in acquired),
            train_seconds=t1 - t0,
            score_seconds=score_s,
            select_seconds=select_s,
            eval_seconds=t2 - t1,
            **stop_values,
        )
        records.append(record)
        if on_round is not None:
            on_round(
                RoundContext(
                    record=record,
                    dataset=dataset,
                    labelled_ids=labelled,
                    models=fitted.models,
                    posterior=fitted.posterior,
                    num_samples=fitted.num_samples,
                    learner=learner,
                    _round=r,
                )
            )
    return records


def _run_task(
    task_run: TaskRun,
    dataset: Dataset,
    strategy: Strategy,
    *,
    build_model: Callable[[int], nn.Module] | None,
    train_config: TrainConfig,
    initial_labels: int,
    acquisition_size: int,
    rounds: int,
    seed: int,
    posterior: str | PosteriorMethod,
    num_samples: int,
    ensemble_size: int,
    pool_subset: int | None,
    chunk_size: int,
    on_round: Callable[[RoundContext], None] | None,
    progress: bool,
    oracle: Oracle | None,
    device: DeviceLike,
    scoring: Mapping[str, Any] | None,
) -> list[RoundRecord]:
    """:func:`run_active_learning` for a task of :data:`TASK_RUNS`."""
    posterior_params = {"members": ensemble_size} if posterior == "ensemble" else None
    learner = ActiveLearner(
        dataset.train_x,
        model=build_model,
        strategy=strategy,
        task=task_run.task,
        posterior=posterior,
        posterior_params=posterior_params,
        num_samples=num_samples,
        num_classes=task_run.learner_width(dataset),
        training=train_config,
        device=device,
        seed=seed,
        pool_subset=pool_subset,
        chunk_size=chunk_size,
        **dict(scoring or {}),
    )
    oracle = oracle if oracle is not None else SimulatedOracle(dataset.train_y)
    initial_rng = np.random.default_rng(stream_seed(seed, _INITIAL))
    initial = task_run.initial_ids(dataset, initial_labels, initial_rng)
    learner.teach(initial, oracle(initial))
    records: list[RoundRecord] = []
    for r in tqdm(range(rounds + 1), desc="rounds", leave=False, disable=not progress):
        labelled = learner.labelled_ids
        t0 = time.perf_counter()
        fitted = learner.fit()
        t1 = time.perf_counter()
        metrics = task_run.evaluate(learner, dataset)
        t2 = time.perf_counter()
        acquired = np.zeros(0, dtype=np.int64)
        score_s = select_s = 0.0
        if r < rounds:
            acquired = learner.query(acquisition_size)
            score_s, select_s = learner.last_timings.score, learner.last_timings.select
            learner.teach(acquired, oracle(acquired))
        record = RoundRecord(
            round=r,
            n_labels=len(labelled),
            test_accuracy=math.nan,
            test_nll=math.nan,
            acquired_ids=tuple(int(i) for i in acquired),
            train_seconds=t1 - t0,
            score_seconds=score_s,
            select_seconds=select_s,
            eval_seconds=t2 - t1,
            metrics=metrics,
        )
        records.append(record)
        if on_round is not None:
            on_round(
                RoundContext(
                    record=record,
                    dataset=dataset,
                    labelled_ids=labelled,
                    models=fitted.models,
                    posterior=fitted.posterior,
                    num_samples=fitted.num_samples,
                    learner=learner,
                    _round=r,
                )
            )
    return records
