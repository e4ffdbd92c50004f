"""Labelling sessions: a person labels the items the model most wants labelled.

See :mod:`bayesal.session.session` (the session), :mod:`bayesal.session.store` (its
SQLite file), :mod:`bayesal.session.exchange` (CSV, Parquet, Label Studio) and
:mod:`bayesal.session.worker` (background retraining).
"""

from bayesal.session.config import SessionConfig, load_session_config
from bayesal.session.session import (
    ConflictError,
    ItemView,
    LabellingSession,
    RetrainBusyError,
    SessionStatus,
)
from bayesal.session.store import LabelEvent, LeaseHeldError, SessionStore, StoreError

__all__ = [
    "ConflictError",
    "ItemView",
    "LabelEvent",
    "LabellingSession",
    "LeaseHeldError",
    "RetrainBusyError",
    "SessionConfig",
    "SessionStatus",
    "SessionStore",
    "StoreError",
    "load_session_config",
]
