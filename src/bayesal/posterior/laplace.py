"""Last-layer Laplace (Daxberger et al. 2021, "Laplace Redux"), on ``laplace-torch``.

The network is trained as usual (its MAP estimate); then a Gaussian is fitted to the
posterior of its *last linear layer* only, ``theta ~ N(theta_MAP, P^-1)`` with precision
``P = H + lambda I``: ``H`` the generalised Gauss-Newton of the cross-entropy over the
labelled set (``hessian``: ``kron`` Kronecker-factored, ``diag``, or ``full``) and
``lambda`` the prior precision, fitted by maximising the marginal likelihood when
``prior_precision="auto"``. Since the last layer is linear in its parameters, sampling
it is sampling the linearised (GLM) predictive exactly: draw ``k`` is
``log_softmax(phi(x) W_k^T + b_k)`` with the network's features ``phi(x)``, computed
once per input for all K samples.

Evaluation uses the GLM predictive with the probit approximation (laplace-torch's
``pred_type="glm", link_approx="probit"``), not the MAP network.

Needs ``laplace-torch`` (``make laplace-deps``; see ``../shared/DESIGN.md`` for why it is
installed without its declared dependencies).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from bayesal.device import rng_devices
from bayesal.errors import InvalidInputError
from bayesal.posterior.base import (
    Posterior,
    PosteriorDraw,
    check_num_samples,
    evaluation_mode,
    model_device,
    to_model_input,
)
from bayesal.posterior.methods import (
    EVAL_CHUNK_SIZE,
    FitSeeds,
    FittedPosterior,
    ModelBuilder,
    PosteriorMethod,
)
from bayesal.training import TrainConfig

__all__ = ["HESSIANS", "LaplaceMethod", "LastLayerLaplacePosterior"]

HESSIANS = ("kron", "diag", "full")
#: Marginal-likelihood steps of the prior precision (laplace-torch's default).
_MARGLIK_STEPS = 100


def _import_laplace() -> Any:
    try:
        import laplace
    except ImportError:
        raise InvalidInputError(
            "posterior 'laplace' needs laplace-torch: run `make laplace-deps` in a checkout, "
            "or `pip install 'bayesal[laplace]'` and then `pip install --no-deps "
            "laplace-torch==0.3 backpack-for-pytorch==1.7.1 curvlinops-for-pytorch==3.0.1 "
            "asdfghjkl==0.1a4 torchmetrics==1.9.0` (without the torchvision they declare, "
            "which would replace a CPU torch with a CUDA build)"
        ) from None
    return laplace


def _last_linear(model: nn.Module) -> nn.Linear:
    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module
    if last is None:
        raise InvalidInputError("posterior 'laplace' needs a model whose last layer is nn.Linear")
    return last


class _LaplaceDraw(PosteriorDraw):
    def __init__(self, la: Any, weight_K_C_D: Tensor, bias_K_C: Tensor | None) -> None:
        self._la = la
        self._weight = weight_K_C_D
        self._bias = bias_K_C

    @property
    def num_samples(self) -> int:
        return int(self._weight.shape[0])

    @torch.no_grad()
    def log_probs(self, inputs_N: Tensor) -> Tensor:
        feature_model = self._la.model
        device = model_device(feature_model.model)
        x = to_model_input(inputs_N, device, self._weight.dtype)
        with evaluation_mode(feature_model.model):
            _, features_N_D = feature_model.forward_with_features(x)
        logits_N_K_C = torch.einsum("nd,kcd->nkc", features_N_D, self._weight)
        if self._bias is not None:
            logits_N_K_C = logits_N_K_C + self._bias[None]
        return F.log_softmax(logits_N_K_C, dim=-1)


class LastLayerLaplacePosterior(Posterior):
    """K samples of the last layer from a fitted laplace-torch ``Laplace`` object."""

    def __init__(self, la: Any) -> None:
        self.la = la
        layer = la.model.last_layer
        self._shapes = [tuple(p.shape) for p in layer.parameters()]
        self._has_bias = layer.bias is not None

    def draw(self, num_samples: int, generator: torch.Generator) -> PosteriorDraw:
        check_num_samples(num_samples)
        # laplace-torch draws on the posterior's device: a CPU generator needs CPU samples.
        samples_K_P = self.la.sample(num_samples, generator=generator).detach()
        c, d = self._shapes[0]
        weight = samples_K_P[:, : c * d].reshape(num_samples, c, d)
        bias = samples_K_P[:, c * d : c * d + c] if self._has_bias else None
        return _LaplaceDraw(self.la, weight, bias)


class _LaplaceFitted(FittedPosterior):
    """A fitted last-layer Laplace. A loaded learner restores the network, then
    ``extra["laplace_state"]``; the laplace-torch object is rebuilt from both on first
    use."""

    method: LaplaceMethod | None = None
    la: Any = None

    def _la(self) -> Any:
        if self.la is None:
            assert self.method is not None
            la = self.method.new_laplace(self.models[0])
            la.load_state_dict(self.extra["laplace_state"])
            self.set_laplace(la)
        return self.la

    def set_laplace(self, la: Any) -> None:
        self.la = la
        self.posterior = LastLayerLaplacePosterior(la)

    def draw(self, generator: torch.Generator) -> PosteriorDraw:
        return LastLayerLaplacePosterior(self._la()).draw(self.num_samples, generator)

    @torch.no_grad()
    def predict_log_probs(self, inputs_N: Tensor, chunk_size: int = EVAL_CHUNK_SIZE) -> Tensor:
        la = self._la()
        device = model_device(self.models[0])
        chunks = []
        for start in range(0, len(inputs_N), chunk_size):
            x = to_model_input(inputs_N[start : start + chunk_size], device, None)
            probs = la(x, pred_type="glm", link_approx="probit")
            chunks.append(torch.log(probs.clamp_min(torch.finfo(probs.dtype).tiny)))
        return torch.cat(chunks)


class LaplaceMethod(PosteriorMethod):
    """Last-layer Laplace over one trained network (see the module docstring).

    Args:
        hessian: ``kron`` (default), ``diag`` or ``full``: the structure of the
            last layer's GGN.
        prior_precision: ``"auto"`` (fitted by marginal likelihood after each round's
            training; default) or a positive number.
        num_samples: K, last-layer samples per draw (default 20).
    """

    name = "laplace"

    def __init__(
        self,
        hessian: str = "kron",
        prior_precision: float | str = "auto",
        num_samples: int = 20,
    ) -> None:
        if hessian not in HESSIANS:
            raise InvalidInputError(f"hessian must be one of {HESSIANS}, got {hessian!r}")
        if prior_precision != "auto":
            if (
                isinstance(prior_precision, bool)
                or not isinstance(prior_precision, int | float)
                or not math.isfinite(prior_precision)
                or prior_precision <= 0
            ):
                raise InvalidInputError(
                    f"prior_precision must be 'auto' or a positive number, got {prior_precision!r}"
                )
        self.hessian = hessian
        self.prior_precision = prior_precision
        self._k = check_num_samples(num_samples)
        _import_laplace()

    @property
    def num_models(self) -> int:
        return 1

    @property
    def num_samples(self) -> int:
        return self._k

    def new_laplace(self, model: nn.Module) -> Any:
        """An unfitted laplace-torch object over ``model``'s last linear layer."""
        laplace = _import_laplace()
        _last_linear(model)
        prior = 1.0 if self.prior_precision == "auto" else float(self.prior_precision)
        return laplace.Laplace(
            model,
            "classification",
            subset_of_weights="last_layer",
            hessian_structure=self.hessian,
            prior_precision=prior,
        )

    def posterior(self, models: list[nn.Module]) -> Posterior:
        raise InvalidInputError(
            "a last-layer Laplace posterior needs its fitted state: use fit(), or wrap() "
            "with extra['laplace_state']"
        )

    def wrap(self, models: list[nn.Module]) -> FittedPosterior:
        if len(models) != 1:
            raise InvalidInputError(f"posterior 'laplace' needs 1 model, got {len(models)}")
        fitted = _LaplaceFitted(None, list(models), self._k)  # type: ignore[arg-type]
        fitted.method = self
        return fitted

    def fit(
        self,
        build_model: ModelBuilder,
        x_L: Tensor,
        y_L: Tensor,
        *,
        train_config: TrainConfig,
        seeds: FitSeeds,
        device: torch.device,
        transform: Callable[[Tensor], Tensor] | None = None,
    ) -> FittedPosterior:
        fitted = super().fit(
            build_model,
            x_L,
            y_L,
            train_config=train_config,
            seeds=seeds,
            device=device,
            transform=transform,
        )
        assert isinstance(fitted, _LaplaceFitted)
        model = fitted.models[0]
        la = self.new_laplace(model)
        dtype = next(model.parameters()).dtype
        data = TensorDataset(to_model_input(x_L, device, dtype), y_L.long().to(device))
        # laplace-torch's DataLoader iteration draws from the global RNG: fork it.
        with torch.random.fork_rng(devices=rng_devices(device)), evaluation_mode(model):
            la.fit(DataLoader(data, batch_size=train_config.batch_size))
            if self.prior_precision == "auto":
                # laplace-torch warns on every call about the predictive's link
                # approximation, which the marginal likelihood does not use.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="By default `link_approx`")
                    la.optimize_prior_precision(
                        pred_type="glm",
                        method="marglik",
                        n_steps=_MARGLIK_STEPS,
                        prior_structure="scalar",
                    )
        fitted.set_laplace(la)
        fitted.extra.update(
            laplace_state=la.state_dict(),
            prior_precision=float(la.prior_precision.detach().reshape(-1)[0]),
        )
        return fitted
