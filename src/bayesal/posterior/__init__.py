"""Posterior approximations: producers of log-probabilities ``[N, K, C]``."""

from bayesal.posterior.base import Posterior, PosteriorDraw
from bayesal.posterior.ensemble import EnsemblePosterior
from bayesal.posterior.mc_dropout import MCDropoutDraw, MCDropoutPosterior

__all__ = [
    "EnsemblePosterior",
    "MCDropoutDraw",
    "MCDropoutPosterior",
    "Posterior",
    "PosteriorDraw",
]
