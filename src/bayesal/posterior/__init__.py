"""Posterior approximations: producers of log-probabilities ``[N, K, C]``, and the
registered methods that train them (``get_posterior("mc_dropout", num_samples=20)``)."""

from bayesal.posterior.base import Posterior, PosteriorDraw
from bayesal.posterior.ensemble import EnsemblePosterior
from bayesal.posterior.forest import ForestMethod, ForestPosterior
from bayesal.posterior.graph import LabelSpreadingMethod, LabelSpreadingPosterior
from bayesal.posterior.graph_gp import GraphGPMethod
from bayesal.posterior.laplace import LaplaceMethod, LastLayerLaplacePosterior
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
from bayesal.posterior.self_training import SelfTrainingMethod

# Here rather than in methods.py, which laplace.py and forest.py import. laplace-torch
# itself is imported only when a Laplace method is built, scikit-learn's ensembles only
# when a forest method is.
POSTERIORS.register("laplace", LaplaceMethod)
POSTERIORS.register("forest", ForestMethod)
POSTERIORS.register("label_spreading", LabelSpreadingMethod)
POSTERIORS.register("graph_gp", GraphGPMethod)
POSTERIORS.register("self_training", SelfTrainingMethod)
POSTERIORS.mark_builtin()

__all__ = [
    "POSTERIORS",
    "EnsembleMethod",
    "EnsemblePosterior",
    "FitSeeds",
    "FittedPosterior",
    "ForestMethod",
    "ForestPosterior",
    "GraphGPMethod",
    "LabelSpreadingMethod",
    "LabelSpreadingPosterior",
    "LaplaceMethod",
    "LastLayerLaplacePosterior",
    "MCDropoutDraw",
    "MCDropoutMethod",
    "MCDropoutPosterior",
    "Posterior",
    "PosteriorDraw",
    "PosteriorMethod",
    "SelfTrainingMethod",
    "available_posteriors",
    "get_posterior",
    "predictive_log_probs",
    "register_posterior",
]
