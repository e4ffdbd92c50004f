"""The labelling UI: a web server over a labelling session (``bayesal serve``).

:func:`create_app` builds the ASGI app (FastAPI) of a session directory; :func:`serve`
runs it (uvicorn, 127.0.0.1 by default; another address needs a token). See
:mod:`bayesal.web.app` for what it serves and ``docs/labelling.md`` for how to use it.
Needs the ``label`` extra (``pip install 'bayesal[label]'``: fastapi, uvicorn,
python-multipart).
"""

from bayesal.web.app import create_app, serve

__all__ = ["create_app", "serve"]
