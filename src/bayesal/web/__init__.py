"""The labelling UI: a web server over a labelling session (``bayesal serve``).

:func:`create_app` builds the ASGI app (FastAPI) of a session directory; :func:`serve`
runs it (uvicorn, 127.0.0.1 by default; another address needs a token). See
:mod:`bayesal.web.app` for what it serves and ``docs/labelling.md`` for how to use it.
Needs the ``label`` extra (``pip install 'bayesal[label]'``: fastapi, uvicorn,
python-multipart).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bayesal.web.app import create_app, serve

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that bayesal.web.options (and ``python -m bayesal.web``)
    # can say which extra to install instead of failing on ``import fastapi``.
    if name in __all__:
        from bayesal.web import app

        return getattr(app, name)
    raise AttributeError(f"module 'bayesal.web' has no attribute {name!r}")
