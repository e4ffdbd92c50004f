"""Checks of what a strategy hands back, where the learner and the scoring engine take it.

A strategy may be a plugin: its ``score`` or ``select`` can return scores of the wrong
length, NaN, nothing but infinities (which rank nothing: the batch would be the
tie-break order), or a selection of the wrong size. Each is refused here with an
:class:`~bayesal.errors.InvalidInputError` that names the strategy, instead of a batch
picked at random or a traceback further on.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bayesal.acquisition.base import Selection
from bayesal.errors import InvalidInputError

__all__ = ["check_score_chunk", "check_scores_rank", "check_selection"]


def _fix(name: str) -> str:
    return f"fix strategy {name!r} (its score or select), or use another strategy"


def check_score_chunk(name: str, scores: object, num_inputs: int) -> Tensor:
    """``scores`` as returned by strategy ``name``'s ``score`` for ``num_inputs`` inputs:
    a floating-point tensor of shape ``[num_inputs]`` without NaN (``+-inf`` allowed
    here; :func:`check_scores_rank` checks the whole pool).

    Raises:
        InvalidInputError: naming the strategy and what is wrong.
    """
    if not isinstance(scores, Tensor):
        raise InvalidInputError(
            f"strategy {name!r} returned {type(scores).__name__} from score, not a tensor "
            f"of {num_inputs} scores; {_fix(name)}"
        )
    if tuple(scores.shape) != (num_inputs,):
        raise InvalidInputError(
            f"strategy {name!r} returned scores of shape {list(scores.shape)} for "
            f"{num_inputs} inputs (expected [{num_inputs}], one score per input); {_fix(name)}"
        )
    if not scores.is_floating_point():
        raise InvalidInputError(
            f"strategy {name!r} returned scores of dtype {scores.dtype}, not floating "
            f"point; {_fix(name)}"
        )
    nan = torch.isnan(scores)
    if bool(nan.any()):
        raise InvalidInputError(
            f"strategy {name!r} returned NaN scores ({int(nan.sum())} of {num_inputs}); "
            f"{_fix(name)}"
        )
    return scores


def check_scores_rank(name: str, num_finite: int, num_items: int) -> None:
    """The pool's scores rank something: at least one of the ``num_items`` is finite.

    All ``+inf`` (or all ``-inf``) is a strategy that ranks nothing: the batch would be
    the tie-break order, a random batch under the strategy's name.

    Raises:
        InvalidInputError: naming the strategy.
    """
    if num_items > 0 and num_finite == 0:
        raise InvalidInputError(
            f"strategy {name!r} gave none of the {num_items} pool items a finite score "
            f"(all +inf or -inf): its scores rank nothing (the batch would be the "
            f"tie-break order); {_fix(name)}"
        )


def check_selection(name: str, selection: object, batch_size: int, num_items: int) -> Selection:
    """``selection`` as returned by strategy ``name`` for a batch of ``batch_size`` of
    ``num_items``: a :class:`~bayesal.acquisition.base.Selection` of ``batch_size``
    distinct integer positions in ``[0, num_items)`` and ``batch_size`` scores, none NaN.

    Raises:
        InvalidInputError: naming the strategy and what is wrong.
    """
    if not isinstance(selection, Selection):
        raise InvalidInputError(
            f"strategy {name!r} returned {type(selection).__name__} from select, not a "
            f"Selection(indices_B, scores_B); {_fix(name)}"
        )
    indices, scores = selection.indices_B, selection.scores_B
    if not isinstance(indices, Tensor) or indices.is_floating_point() or indices.dim() != 1:
        raise InvalidInputError(
            f"strategy {name!r} returned indices_B that are not a 1-D integer tensor "
            f"({type(indices).__name__}); {_fix(name)}"
        )
    count, distinct = len(indices), len(torch.unique(indices))
    if count != batch_size or distinct != batch_size:
        raise InvalidInputError(
            f"strategy {name!r} returned {count} positions ({distinct} distinct), expected "
            f"{batch_size} distinct; {_fix(name)}"
        )
    if count and (int(indices.min()) < 0 or int(indices.max()) >= num_items):
        raise InvalidInputError(
            f"strategy {name!r} returned positions outside [0, {num_items}) (from "
            f"{int(indices.min())} to {int(indices.max())}); {_fix(name)}"
        )
    if not isinstance(scores, Tensor) or tuple(scores.shape) != (count,):
        shape = list(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise InvalidInputError(
            f"strategy {name!r} returned scores_B of shape {shape} for {count} picks "
            f"(expected [{count}], the score of each pick); {_fix(name)}"
        )
    if scores.is_floating_point() and bool(torch.isnan(scores).any()):
        raise InvalidInputError(f"strategy {name!r} returned NaN pick scores; {_fix(name)}")
    return selection
