"""bayesal: Bayesian active learning on PyTorch.

The public core is the ask/tell learner::

    from bayesal import ActiveLearner
    learner = ActiveLearner(pool, model=make_model, strategy="bald", seed=0)
    ids = learner.query(10)
    learner.teach(ids, labels)
"""

# The one place the version is written: pyproject.toml reads it (dynamic version), and
# `bayesal --version` prints it.
__version__ = "0.1.0"

from bayesal.learner import ActiveLearner, Oracle, SimulatedOracle  # noqa: E402

__all__ = ["ActiveLearner", "Oracle", "SimulatedOracle", "__version__"]
