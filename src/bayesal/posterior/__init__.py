"""Posterior approximations: producers of log-probabilities ``[N, K, C]``, and the
registered methods that train them (``get_posterior("mc_dropout", num_samples=20)``)."""

from bayesal.posterior.base import Posterior, PosteriorDraw
from bayesal.posterior.ensemble import EnsemblePosterior
from bayesal.posterior.mc_dropout import MCDropoutDraw, MCDropoutPosterior
from bayesal.posterior.methods import (
    POSTERIORS,
    EnsembleMethod,
    FitSeeds,
    FittedPosterior,
    MCDropoutMethod,
    PosteriorMethod,
    available_posteriors,
    get_posterior,
    predictive_log_probs,
    register_posterior,
)

__all__ = [
    "POSTERIORS",
    "EnsembleMethod",
    "EnsemblePosterior",
    "FitSeeds",
    "FittedPosterior",
    "MCDropoutDraw",
    "MCDropoutMethod",
    "MCDropoutPosterior",
    "Posterior",
    "PosteriorDraw",
    "PosteriorMethod",
    "available_posteriors",
    "get_posterior",
    "predictive_log_probs",
    "register_posterior",
]
