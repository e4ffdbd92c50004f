"""Typed errors. Every module may import this leaf module; it imports nothing."""

from __future__ import annotations


class BayesalError(Exception):
    """Base class of every error bayesal raises on purpose."""


class InvalidInputError(BayesalError, ValueError):
    """A tensor or argument is malformed (wrong shape, NaN, k larger than the pool, ...)."""


class UnknownStrategyError(BayesalError, KeyError):
    """An acquisition strategy name is not in the registry."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


class ConfigError(BayesalError, ValueError):
    """An experiment config is invalid; the message names the offending field."""


class IncompleteResultsError(InvalidInputError):
    """A results table whose strategies do not share the same seeds and rounds (trials
    missing or cut short): its summary would compare unequal things."""


class DataNotFoundError(BayesalError, FileNotFoundError):
    """A dataset is not available; the message says what to install or download."""
