"""Stopping criteria: when has active learning bought enough labels?

A stopping *rule* reads the evidence of every round so far and says whether to stop::

    rule = get_stopping_rule("stabilizing_predictions", threshold=0.99, window=3)
    decision = rule(history)          # history: Sequence[RoundEvidence], oldest first
    decision.stop, decision.reason    # True, "kappa 0.993, 0.995, 0.991 over the last ..."

The same rules serve simulated studies (``stopping:`` in an experiment config records
the evidence in ``results.csv``; ``bayesal report`` says where each rule would have
stopped) and a labelling session (which records the evidence as a person labels).

Evidence of one round (:class:`RoundEvidence`): the number of labels, Cohen's kappa
between the predicted classes of this round's model and the previous round's on a fixed
*stop set* of pool items (Bloodgood & Vijay-Shanker 2009), the mean predictive entropy
and BALD (mutual information) of the posterior over that stop set, and the test
accuracy when a labelled test set exists. Anything may be missing (None): a rule whose
input is not recorded answers ``stop=False`` and says so in its ``reason``.

Built-in rules (registered in :data:`STOPPING_RULES`, kind ``"stopping rule"``; any
name may also be an import path ``package.module:factory``):

* ``budget(max_labels)``: stop at ``n_labels >= max_labels``.
* ``stabilizing_predictions(threshold=0.99, window=3)``: stop when the mean kappa of
  the last ``window`` consecutive model pairs is ``>= threshold``.
* ``uncertainty_threshold(threshold, measure="bald")``: stop when the mean stop-set
  uncertainty is ``< threshold``.
* ``accuracy_plateau(window=3, min_delta=0.005)``: stop when the best test accuracy of
  the last ``window`` rounds improves on the best before them by less than
  ``min_delta``.

A rule is any callable ``rule(history) -> StopDecision`` with a ``name`` attribute;
factories are registered like strategies (``STOPPING_RULES.register(name, factory)``).

This module is a leaf: it imports only numpy, the standard library,
:mod:`bayesal.registry` and :mod:`bayesal.errors`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike

from bayesal.errors import InvalidInputError
from bayesal.registry import Registry

__all__ = [
    "STOPPING_RULES",
    "UNCERTAINTY_MEASURES",
    "AccuracyPlateau",
    "Budget",
    "RoundEvidence",
    "StabilizingPredictions",
    "StopDecision",
    "StoppingRule",
    "UncertaintyThreshold",
    "available_stopping_rules",
    "cohen_kappa",
    "first_stop",
    "get_stopping_rule",
]

#: The uncertainty measures a round may record (means over the stop set, in nats):
#: ``entropy`` the predictive entropy H[p̄], ``bald`` the mutual information
#: H[p̄] - E_k H[p_k].
UNCERTAINTY_MEASURES: tuple[str, ...] = ("entropy", "bald")


@dataclass(frozen=True)
class RoundEvidence:
    """What one round of active learning tells a stopping rule.

    Attributes:
        n_labels: labels the round's model was trained on.
        agreement: Cohen's kappa (:func:`cohen_kappa`) between this round's model's
            predicted classes and the previous round's on the fixed stop set; None in
            the first round or when not recorded.
        uncertainty: means over the stop set, by measure: ``"entropy"`` (predictive
            entropy) and ``"bald"`` (mutual information), in nats; may be empty.
        accuracy: test accuracy in [0, 1] when a labelled test set exists, else None.
    """

    n_labels: int
    agreement: float | None = None
    uncertainty: Mapping[str, float] = field(default_factory=dict)
    accuracy: float | None = None


@dataclass(frozen=True)
class StopDecision:
    """A rule's answer: ``stop``; ``reason``, one human-readable line; ``value``, the
    quantity the rule watches (None when it could not be computed)."""

    stop: bool
    reason: str
    value: float | None = None


@runtime_checkable
class StoppingRule(Protocol):
    """``rule(history) -> StopDecision``, where ``history`` holds every round so far,
    oldest first; ``name`` names the rule in reports."""

    @property
    def name(self) -> str:
        """The rule's name in configs and reports (a class attribute in the built-ins)."""
        ...

    def __call__(self, history: Sequence[RoundEvidence]) -> StopDecision: ...


#: The stopping-rule registry (see :mod:`bayesal.registry`): names and import paths.
STOPPING_RULES: Registry[StoppingRule] = Registry("stopping rule")


# ------------------------------------------------------------------------------ kappa


def _as_predictions(values: ArrayLike, name: str, num_classes: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInputError(
            f"{name} must be a 1-D array of class indices, got shape {array.shape}"
        )
    if array.dtype.kind == "f":
        if not (np.all(np.isfinite(array)) and np.all(array == np.round(array))):
            raise InvalidInputError(f"{name} must hold integer class indices, got {array.dtype}")
        array = array.astype(np.int64)
    elif array.dtype.kind not in "iu":
        raise InvalidInputError(f"{name} must hold integer class indices, got {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise InvalidInputError(
            f"{name} must hold class indices in [0, {num_classes}), got values in "
            f"[{array.min()}, {array.max()}]"
        )
    return array.astype(np.int64, copy=False)


def cohen_kappa(a: ArrayLike, b: ArrayLike, num_classes: int) -> float:
    """Cohen's kappa between two sets of predicted classes of the same items.

    Equation: ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o = (1/N) Σ_i [a_i = b_i]``
    the observed agreement and ``p_e = Σ_c (n_a(c) / N) (n_b(c) / N)`` the agreement
    expected by chance from the two marginal class frequencies. It lies in [-1, 1]:
    1 is perfect agreement, 0 what independent predictions with the same marginals
    would give.

    Edge cases: when ``p_e = 1`` (both arrays predict one and the same class for every
    item) the formula is 0/0; kappa is then 1 (the predictions agree completely). (scikit-
    learn's ``cohen_kappa_score`` returns NaN there.) Both constant but on different
    classes gives ``p_o = p_e = 0``, so kappa is 0.

    Shapes: ``a [N]``, ``b [N]`` (ints in ``[0, num_classes)``), ``N >= 1`` -> float.

    Reference: Cohen (1960), "A Coefficient of Agreement for Nominal Scales",
    Educational and Psychological Measurement 20(1).

    Raises:
        InvalidInputError: arrays that are not 1-D integer class indices in
            ``[0, num_classes)``, of different lengths, or empty; ``num_classes < 1``.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise InvalidInputError(f"num_classes must be an integer, got {num_classes!r}")
    if num_classes < 1:
        raise InvalidInputError(f"num_classes must be >= 1, got {num_classes}")
    a_N = _as_predictions(a, "a", int(num_classes))
    b_N = _as_predictions(b, "b", int(num_classes))
    if len(a_N) != len(b_N):
        raise InvalidInputError(f"a and b must have the same length, got {len(a_N)} and {len(b_N)}")
    n = len(a_N)
    if n == 0:
        raise InvalidInputError("kappa needs at least one item (a and b are empty)")
    observed = float(np.count_nonzero(a_N == b_N)) / n
    freq_a_C = np.bincount(a_N, minlength=num_classes).astype(np.float64) / n
    freq_b_C = np.bincount(b_N, minlength=num_classes).astype(np.float64) / n
    expected = float(np.dot(freq_a_C, freq_b_C))
    if expected >= 1.0:  # both constant, on the same class
        return 1.0
    return (observed - expected) / (1.0 - expected)


# ------------------------------------------------------------------------------ checks


def _number(value: object, name: str, *, low: float | None = None, high: float | None = None,
            low_open: bool = False) -> float:  # fmt: skip
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name} must be a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (x <= low if low_open else x < low):
        raise InvalidInputError(f"{name} must be {'>' if low_open else '>='} {low:g}, got {x:g}")
    if high is not None and x > high:
        raise InvalidInputError(f"{name} must be <= {high:g}, got {x:g}")
    return x


def _count(value: object, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _finite(value: float | None) -> float | None:
    """``value`` as a float, or None when missing or not finite (NaN: not recorded)."""
    if value is None:
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _fmt(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def _no_rounds(name: str) -> StopDecision:
    return StopDecision(False, f"{name}: no round recorded yet", None)


# ------------------------------------------------------------------------------ rules


@dataclass(frozen=True)
class Budget:
    """Stop once the labelling budget is spent: ``n_labels >= max_labels`` (the last
    round's). ``value``: the last round's ``n_labels``.

    Raises:
        InvalidInputError: ``max_labels`` not an integer >= 1.
    """

    max_labels: int
    name: ClassVar[str] = "budget"

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_labels", _count(self.max_labels, "budget: max_labels"))

    def __call__(self, history: Sequence[RoundEvidence]) -> StopDecision:
        if not history:
            return _no_rounds(self.name)
        n = int(history[-1].n_labels)
        if n >= self.max_labels:
            return StopDecision(True, f"{n} labels >= budget {self.max_labels}", float(n))
        return StopDecision(False, f"{n} labels < budget {self.max_labels}", float(n))


@dataclass(frozen=True)
class StabilizingPredictions:
    """Stabilizing predictions (Bloodgood & Vijay-Shanker 2009).

    A fixed *stop set* of pool items, which need no labels, is predicted by the model of
    every round; the agreement of two consecutive models is Cohen's kappa of their
    predicted classes on it (:func:`cohen_kappa`; ``RoundEvidence.agreement`` of round
    t compares the models of rounds t-1 and t). The rule stops at round t when the mean
    agreement over a window of the ``window`` most recent consecutive pairs is at least
    ``threshold``::

        stop  <=>  (1/w) Σ_{j = t-w+1}^{t} kappa(M_{j-1}, M_j)  >=  threshold

    The paper's default is a window of k = 3 agreements and threshold 0.99 (its
    "user-adjustable" knob: a lower threshold stops earlier, more aggressively). Fewer
    than ``window`` recorded agreements (the first rounds, a window larger than the
    history, or rounds without a stop set) never stop. ``value``: the mean of the
    agreements recorded in the window (None when there is none).

    (small-text's ``KappaAverage`` criterion, which cites the same paper, instead stops
    when the mean absolute *change* of kappa over the window is below ``1 - kappa``;
    that is not this rule.)

    Reference: M. Bloodgood and K. Vijay-Shanker (2009), "A Method for Stopping Active
    Learning Based on Stabilizing Predictions and the Need for User-Adjustable
    Stopping", CoNLL 2009, pp. 39-47 (arXiv:1409.5165).

    Raises:
        InvalidInputError: ``threshold`` not a finite number in (-1, 1], or ``window``
            not an integer >= 1.
    """

    threshold: float = 0.99
    window: int = 3
    name: ClassVar[str] = "stabilizing_predictions"

    def __post_init__(self) -> None:
        threshold = _number(
            self.threshold, f"{self.name}: threshold", low=-1.0, high=1.0, low_open=True
        )
        object.__setattr__(self, "threshold", threshold)
        object.__setattr__(self, "window", _count(self.window, f"{self.name}: window"))

    def __call__(self, history: Sequence[RoundEvidence]) -> StopDecision:
        if not history:
            return _no_rounds(self.name)
        recent = [_finite(e.agreement) for e in history[-self.window :]]
        kappas = [k for k in recent if k is not None]
        value = float(np.mean(kappas)) if kappas else None
        if len(kappas) < self.window:
            if len(history) == 1:
                why = "first round: no previous model to compare with"
            elif all(_finite(e.agreement) is None for e in history):
                why = "no stop-set agreement recorded"
            else:
                why = (
                    f"kappa recorded in {len(kappas)} of the last {self.window} rounds"
                    f"{' (' + _fmt(kappas) + ')' if kappas else ''}; needs {self.window}"
                )
            return StopDecision(False, why, value)
        assert value is not None
        rounds = f"over the last {self.window} round{'s' if self.window != 1 else ''}"
        if value >= self.threshold:
            mean = f" (mean {value:.4f})" if self.window > 1 else ""
            return StopDecision(
                True, f"kappa {_fmt(kappas)} {rounds}{mean} >= {self.threshold:g}", value
            )
        return StopDecision(
            False, f"kappa {_fmt(kappas)} {rounds}: mean {value:.4f} < {self.threshold:g}", value
        )


@dataclass(frozen=True)
class UncertaintyThreshold:
    """Stop when the model is confident on the stop set: the last round's mean
    uncertainty over the stop set, ``measure`` = ``"bald"`` (mutual information
    ``H[p̄] - E_k H[p_k]``, epistemic) or ``"entropy"`` (predictive entropy ``H[p̄]``,
    total), is below ``threshold`` (nats)::

        stop  <=>  (1/|S|) Σ_{x in S} u(x)  <  threshold

    The rule of "stop when the learner is no longer uncertain" in the spirit of
    Vlachos (2008), "A stopping criterion for active learning", Computer Speech &
    Language 22(3), and Zhu, Wang & Hovy (2008), "Multi-criteria-based strategy to stop
    active learning for data annotation", COLING 2008, read off the Bayesian
    quantities the strategies already use. ``value``: the last round's mean.

    Raises:
        InvalidInputError: ``threshold`` not a finite number > 0, or an unknown
            ``measure``.
    """

    threshold: float
    measure: str = "bald"
    name: ClassVar[str] = "uncertainty_threshold"

    def __post_init__(self) -> None:
        threshold = _number(self.threshold, f"{self.name}: threshold", low=0.0, low_open=True)
        object.__setattr__(self, "threshold", threshold)
        if self.measure not in UNCERTAINTY_MEASURES:
            raise InvalidInputError(
                f"{self.name}: measure must be one of {UNCERTAINTY_MEASURES}, got {self.measure!r}"
            )

    def __call__(self, history: Sequence[RoundEvidence]) -> StopDecision:
        if not history:
            return _no_rounds(self.name)
        value = _finite(history[-1].uncertainty.get(self.measure))
        if value is None:
            return StopDecision(False, f"no stop-set {self.measure} recorded", None)
        if value < self.threshold:
            return StopDecision(
                True, f"mean stop-set {self.measure} {value:.4f} < {self.threshold:g}", value
            )
        return StopDecision(
            False, f"mean stop-set {self.measure} {value:.4f} >= {self.threshold:g}", value
        )


@dataclass(frozen=True)
class AccuracyPlateau:
    """Stop when the test accuracy has stopped improving.

    Over the rounds with a recorded accuracy ``a_1 .. a_t`` (oldest first), with
    ``w = window``::

        gain  = max(a_{t-w+1} .. a_t) - max(a_1 .. a_{t-w})
        stop  <=>  t > w  and  gain < min_delta

    i.e. the best accuracy of the last ``w`` rounds beats the best of every round
    before them by less than ``min_delta`` (a fraction: 0.005 is half a point). A drop
    counts as no gain. It needs a labelled test set, so it is an *oracle* criterion for
    simulations (a person labelling has no test set); with no accuracy recorded in the
    last round it never stops ("no test set"). ``value``: ``gain`` (None until there
    are ``window + 1`` accuracies).

    Raises:
        InvalidInputError: ``window`` not an integer >= 1, or ``min_delta`` not a finite
            number >= 0.
    """

    window: int = 3
    min_delta: float = 0.005
    name: ClassVar[str] = "accuracy_plateau"

    def __post_init__(self) -> None:
        object.__setattr__(self, "window", _count(self.window, f"{self.name}: window"))
        object.__setattr__(
            self, "min_delta", _number(self.min_delta, f"{self.name}: min_delta", low=0.0)
        )

    def __call__(self, history: Sequence[RoundEvidence]) -> StopDecision:
        if not history:
            return _no_rounds(self.name)
        if _finite(history[-1].accuracy) is None:
            return StopDecision(False, "no test accuracy recorded (no test set)", None)
        accuracies = [a for a in (_finite(e.accuracy) for e in history) if a is not None]
        if len(accuracies) <= self.window:
            return StopDecision(
                False,
                f"{len(accuracies)} accuracies recorded; needs {self.window + 1} "
                f"(a window of {self.window} and one round before it)",
                None,
            )
        recent = max(accuracies[-self.window :])
        before = max(accuracies[: -self.window])
        gain = recent - before
        text = (
            f"best accuracy of the last {self.window} rounds {recent:.4f} vs {before:.4f} "
            f"before: gain {gain:+.4f}"
        )
        if gain < self.min_delta:
            return StopDecision(True, f"{text} < {self.min_delta:g}", gain)
        return StopDecision(False, f"{text} >= {self.min_delta:g}", gain)


def _register_builtins() -> None:
    for rule in (Budget, StabilizingPredictions, UncertaintyThreshold, AccuracyPlateau):
        STOPPING_RULES.register(rule.name, rule)


_register_builtins()
STOPPING_RULES.mark_builtin()


# ------------------------------------------------------------------------------ lookup


def available_stopping_rules() -> list[str]:
    """The registered stopping-rule names, sorted."""
    return STOPPING_RULES.names()


def get_stopping_rule(name: str, **params: Any) -> StoppingRule:
    """The stopping rule registered as ``name`` (or at the import path
    ``package.module:factory``), built with ``params``.

    Raises:
        InvalidInputError: an unknown name (the message suggests close matches and lists
            the available ones), parameters the rule does not accept or lacks, bad
            parameter values, or a factory that does not return a callable rule.
    """
    rule = STOPPING_RULES.build(name, **params)
    if not callable(rule):
        raise InvalidInputError(
            f"the factory of stopping rule {name!r} returned {type(rule).__name__}, which is "
            "not callable as rule(history) -> StopDecision"
        )
    return rule


def first_stop(rule: StoppingRule, history: Sequence[RoundEvidence]) -> int | None:
    """The index of the first round at which ``rule`` says stop, evaluating it on
    ``history[: i + 1]`` for ``i = 0, 1, ...`` (as it would have run live); None when it
    never does."""
    for i in range(len(history)):
        if rule(history[: i + 1]).stop:
            return i
    return None
