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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch import Tensor, nn
from tqdm.auto import tqdm

from bayesal.acquisition.base import Strategy
from bayesal.data.dataset import Dataset
from bayesal.data.pool import IdArray, balanced_initial_ids
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
from bayesal.training import TrainConfig

__all__ = [
    "EVAL_CHUNK_SIZE",
    "RoundContext",
    "RoundRecord",
    "predictive_log_probs",
    "run_active_learning",
    "stream_seed",
]


@dataclass(frozen=True)
class RoundRecord:
    """The outcome of one round: test metrics of the model(s) trained on ``n_labels``
    labels, and the ids acquired afterwards (empty in the last round). Wall-clock times in
    seconds, disjoint: ``train_seconds`` fitting the round's model(s); ``eval_seconds``
    the test-set evaluation; ``score_seconds`` the pool subset draw, the posterior draw
    and the log-probs of the scored ids (and their scores for pointwise strategies);
    ``select_seconds`` the strategy's selection. Scoring and selection are 0 in the last
    round, which acquires nothing."""

    round: int
    n_labels: int
    test_accuracy: float
    test_nll: float
    acquired_ids: tuple[int, ...]
    train_seconds: float
    score_seconds: float
    select_seconds: float
    eval_seconds: float


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


def _evaluate(learner: ActiveLearner, dataset: Dataset) -> tuple[float, float]:
    if len(dataset.test_y) == 0:  # no test set: a real user may have none
        return math.nan, math.nan
    # A fixed chunk (not the run's chunk_size), so that test metrics do not depend on it.
    log_probs_N_C = learner.fit().predict_log_probs(dataset.test_x, EVAL_CHUNK_SIZE).cpu()
    accuracy = (log_probs_N_C.argmax(-1) == dataset.test_y).double().mean().item()
    nll = -log_probs_N_C.gather(1, dataset.test_y[:, None]).double().mean().item()
    return accuracy, nll


def run_active_learning(
    dataset: Dataset,
    strategy: Strategy,
    *,
    build_model: Callable[[int], nn.Module],
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
) -> list[RoundRecord]:
    """Run ``rounds`` acquisitions and return ``rounds + 1`` records (rounds 0..rounds).

    Args:
        dataset: train pool (ids = rows of ``train_x``) and test set (may be empty:
            test metrics are then NaN).
        strategy: chooses positions among the scored ids; pointwise strategies are
            scored chunk by chunk with one posterior draw, so ``[N, K, C]`` of the pool
            is never held.
        build_model: ``seed -> fresh untrained model``; called every round (and once
            per member for an ensemble).
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

    Test metrics: accuracy and mean NLL of the eval-mode model (MC dropout: dropout off,
    the weight-scaling approximation) or of the mean of the members' probabilities.
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
    )
    oracle = oracle if oracle is not None else SimulatedOracle(dataset.train_y)
    initial_rng = np.random.default_rng(stream_seed(seed, _INITIAL))
    initial = balanced_initial_ids(
        dataset.train_y, initial_labels, dataset.num_classes, initial_rng
    )
    learner.teach(initial, oracle(initial))

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
