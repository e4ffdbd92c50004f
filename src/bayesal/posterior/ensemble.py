"""Deep ensembles as an approximate posterior (Lakshminarayanan, Pritzel & Blundell 2017,
"Simple and Scalable Predictive Uncertainty Estimation using Deep Ensembles", NeurIPS).

The K "parameter samples" are K independently trained networks. This module only reads
them; training K freshly initialised members with different seeds happens elsewhere.

Devices: each member runs on its own device (that of its first parameter), on the inputs
moved there in its parameter dtype; the ``[N, K, C]`` result is on the first member's
device (members on several devices are gathered there).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack

import torch
from torch import Tensor, nn

from bayesal.device import log_probs_dtype
from bayesal.errors import InvalidInputError
from bayesal.posterior.base import (
    Posterior,
    PosteriorDraw,
    check_generator,
    check_inputs,
    check_num_samples,
    evaluation_mode,
    model_device,
    model_dtype,
    to_model_input,
)
from bayesal.posterior.heads import OutputHead


class EnsemblePosterior(Posterior):
    """Posterior whose K samples are the K members of a deep ensemble.

    ``draw(K, generator)`` requires ``K == len(members)``: asking for fewer samples than
    members is refused rather than silently using a subset (pass
    ``EnsemblePosterior(members[:K])`` to score with fewer members on purpose). Drawing is
    deterministic; ``generator`` is checked but not advanced.

    Args:
        members: the trained networks, each returning logits ``[N, C]`` with the same C.
            Each runs in eval mode during scoring; its own train/eval flags are restored.
        head: the output head of a task other than classification
            (:mod:`bayesal.posterior.heads`): each member's raw output goes through
            ``head.sample_output`` instead of ``log_softmax``. None (default): logits.

    Raises:
        InvalidInputError: no members, or a member that is not an ``nn.Module``.
    """

    def __init__(self, members: Sequence[nn.Module], *, head: OutputHead | None = None) -> None:
        if isinstance(members, nn.Module):
            raise InvalidInputError(
                "members must be a sequence of nn.Module (one per ensemble member), got a "
                "single module; for one network with dropout use MCDropoutPosterior"
            )
        members = list(members)
        if not members:
            raise InvalidInputError("an ensemble needs at least one member, got none")
        for i, member in enumerate(members):
            if not isinstance(member, nn.Module):
                raise InvalidInputError(
                    f"ensemble member {i} must be a torch.nn.Module, got {type(member).__name__}"
                )
        self.members: list[nn.Module] = members
        self.head = head

    @property
    def num_members(self) -> int:
        """The ensemble size, the only valid ``num_samples``."""
        return len(self.members)

    def draw(self, num_samples: int, generator: torch.Generator) -> EnsembleDraw:
        """All members as the K samples; ``num_samples`` must equal ``len(members)``."""
        num_samples = check_num_samples(num_samples)
        check_generator(generator)
        if num_samples != self.num_members:
            raise InvalidInputError(
                f"an ensemble of {self.num_members} members gives exactly "
                f"{self.num_members} samples, but num_samples={num_samples} was asked for; "
                f"set num_samples={self.num_members}"
                + (
                    f" or score with EnsemblePosterior(members[:{num_samples}])"
                    if num_samples < self.num_members
                    else " or train more members"
                )
            )
        return EnsembleDraw(self.members, head=self.head)


class EnsembleDraw(PosteriorDraw):
    """The K members of an ensemble, applied to any number of input batches."""

    def __init__(self, members: Sequence[nn.Module], *, head: OutputHead | None = None) -> None:
        self._members = list(members)
        self._head = head

    @property
    def num_samples(self) -> int:
        """K, the number of members."""
        return len(self._members)

    def log_probs(self, inputs_N: Tensor) -> Tensor:
        """``log_softmax`` of each member's logits, stacked: ``[N, K, C]``, on the first
        member's device (``inputs_N`` may be on any device; each member gets it on its own
        device, floating-point inputs in its parameter dtype)."""
        inputs_N = check_inputs(inputs_N)
        out_device = model_device(self._members[0])
        log_probs_K: list[Tensor] = []
        with torch.no_grad(), ExitStack() as stack:
            for member in self._members:
                stack.enter_context(evaluation_mode(member))
            for i, member in enumerate(self._members):
                logits_N_C = member(
                    to_model_input(inputs_N, model_device(member), model_dtype(member))
                )
                if (
                    not isinstance(logits_N_C, Tensor)
                    or logits_N_C.dim() != 2
                    or len(logits_N_C) != len(inputs_N)
                ):
                    shape = (
                        tuple(logits_N_C.shape)
                        if isinstance(logits_N_C, Tensor)
                        else type(logits_N_C).__name__
                    )
                    raise InvalidInputError(
                        f"ensemble member {i} must return logits [N, C] = "
                        f"[{len(inputs_N)}, C], got {shape}"
                    )
                if log_probs_K and logits_N_C.shape[1] != log_probs_K[0].shape[1]:
                    raise InvalidInputError(
                        f"ensemble members disagree on the number of classes: member 0 gives "
                        f"{log_probs_K[0].shape[1]}, member {i} gives {logits_N_C.shape[1]}"
                    )
                if self._head is None:
                    log_probs_K.append(
                        torch.log_softmax(
                            logits_N_C, dim=-1, dtype=log_probs_dtype(logits_N_C.dtype)
                        ).to(out_device)
                    )
                else:  # a task's head (multi-label, regression)
                    output = self._head.sample_output(logits_N_C, log_probs_dtype(logits_N_C.dtype))
                    log_probs_K.append(output.to(out_device))
        return torch.stack(log_probs_K, dim=1)
