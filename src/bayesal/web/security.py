"""Who may talk to the labelling server, and what a request may carry.

One pure ASGI middleware, :class:`Guard`, sits in front of every route:

* **Tokens.** With a shared ``token`` or per-annotator tokens configured, every request
  needs ``Authorization: Bearer <token>`` (``Basic`` with the token as the password also
  works, for Label Studio's ML-backend connection), or the ``bayesal_token`` cookie that
  a browser gets by visiting any page once with ``?token=<token>`` (the server answers
  with a redirect to the same page without the token in its address). Tokens are
  compared with :func:`hmac.compare_digest`, every configured token each time. A
  per-annotator token fixes the annotator name of everything done with it.
* **Host header.** Without a token the server is meant for this machine only: requests
  whose ``Host`` is not a loopback name are refused (a defence against DNS rebinding).
* **Cross-site writes.** A ``POST`` whose ``Origin`` (or ``Sec-Fetch-Site``) says it
  comes from another site is refused, so a web page elsewhere cannot label through a
  browser that is logged in.
* **Body size.** Request bodies are bounded (:data:`MAX_BODY`; :data:`MAX_ML_BODY` for
  the Label Studio routes): a larger ``Content-Length`` is refused at once, and a body
  sent without one is counted as it arrives.
* **Redirects** stay on this server: the ``?token=`` redirect goes to the request's
  path with leading slashes and backslashes collapsed to one (``//evil.example/x`` is
  a path here, but a browser would read it as another host).
* **Response headers.** ``Content-Security-Policy`` (scripts, styles and the page's
  ``fetch`` requests only to the server itself, no inline code),
  ``X-Content-Type-Options: nosniff``, no framing, a referrer only to the server itself
  (``no-referrer`` would make browsers send ``Origin: null`` with the forms, which the
  cross-site check refuses).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bayesal.errors import InvalidInputError
from bayesal.session.store import check_name

__all__ = [
    "MAX_BODY",
    "MAX_ML_BODY",
    "MIN_TOKEN_LENGTH",
    "TOKEN_COOKIE",
    "Auth",
    "Guard",
    "TokenBook",
    "is_loopback",
]

#: The largest request body of the UI and the JSON API (64 KiB).
MAX_BODY = 64 * 1024
#: The largest request body of the Label Studio ML-backend routes (batches of tasks).
MAX_ML_BODY = 4 * 1024 * 1024
#: The shortest token accepted.
MIN_TOKEN_LENGTH = 8
#: The cookie that carries a browser's token.
TOKEN_COOKIE = "bayesal_token"
TOKEN_COOKIE_MAX_AGE = 7 * 24 * 3600
#: Paths served without a token: the stylesheet, the key script, the health check.
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = frozenset({"/health"})
ML_PATHS = frozenset({"/setup", "/predict", "/train", "/webhook"})

CSP = (
    "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.1``, ``::1``, ...)."""
    name = host.strip().lower().strip("[]")
    if name in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """The host name of a ``Host`` header, port removed (``[::1]:8000`` -> ``::1``)."""
    host = host_header.strip()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass(frozen=True)
class Auth:
    """How a request was let in: ``how`` is ``open`` (no token configured), ``token``
    (the shared token) or ``annotator`` (a per-annotator token, whose name is
    ``annotator``: the request acts as that annotator only)."""

    how: str
    annotator: str | None = None


def _check_token(token: object, what: str) -> bytes:
    if not isinstance(token, str):
        raise InvalidInputError(f"{what} must be a string, got {type(token).__name__}")
    if len(token) < MIN_TOKEN_LENGTH or len(token) > 512:
        raise InvalidInputError(
            f"{what} must be {MIN_TOKEN_LENGTH} to 512 characters long (got {len(token)}); "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe())'"
        )
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise InvalidInputError(f"{what} must be printable ASCII without spaces")
    return token.encode("ascii")


class TokenBook:
    """The configured tokens: a shared one and/or per-annotator ones (token -> name).

    Raises:
        InvalidInputError: a token too short, not printable ASCII, used twice, or an
            annotator name that is not 1 to 100 printable characters.
    """

    def __init__(
        self, token: str | None = None, annotator_tokens: Mapping[str, str] | None = None
    ) -> None:
        self._shared = None if token is None else _check_token(token, "token")
        self._annotators: list[tuple[bytes, str]] = []
        if annotator_tokens is not None:
            if not isinstance(annotator_tokens, Mapping):
                raise InvalidInputError(
                    "annotator_tokens must be a mapping of token -> annotator name"
                )
            seen: set[bytes] = set() if self._shared is None else {self._shared}
            for raw, name in annotator_tokens.items():
                encoded = _check_token(raw, f"the token of annotator {str(name)[:100]!r}")
                if encoded in seen:
                    raise InvalidInputError("annotator_tokens: a token is used twice")
                seen.add(encoded)
                self._annotators.append((encoded, check_name(name)))

    @property
    def enabled(self) -> bool:
        return self._shared is not None or bool(self._annotators)

    def lookup(self, candidate: str | None) -> Auth | None:
        """The :class:`Auth` of ``candidate``, or None when it matches no token. Every
        configured token is compared (in constant time each), whatever matches."""
        if not self.enabled:
            return Auth("open")
        if not candidate:
            return None
        try:
            given = candidate.encode("ascii")
        except UnicodeEncodeError:
            return None
        found: Auth | None = None
        if self._shared is not None and hmac.compare_digest(given, self._shared):
            found = Auth("token")
        for token, name in self._annotators:
            if hmac.compare_digest(given, token) and found is None:
                found = Auth("annotator", name)
        return found


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, rest = value.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return rest.strip()
    if scheme == "basic":  # Label Studio's ML-backend connection: the token as password
        try:
            decoded = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def _wants_json(path: str, headers: Headers) -> bool:
    if path.startswith("/api/") or path in ML_PATHS or path == "/api":
        return True
    return "text/html" not in headers.get("accept", "")


def _error(status: int, message: str, path: str, headers: Headers) -> Response:
    if _wants_json(path, headers):
        response: Response = JSONResponse({"error": message}, status_code=status)
    else:
        from bayesal.web.pages import message_page

        title = "Token needed" if status == 401 else "Not allowed"
        page = message_page(title, message, token_form=status == 401)
        response = HTMLResponse(page, status_code=status)
    return response


class Guard:
    """The ASGI middleware described in the module docstring.

    Sets ``scope["state"]["bayesal_auth"]`` to the request's :class:`Auth`.
    """

    def __init__(self, app: ASGIApp, *, tokens: TokenBook) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        send = _with_security_headers(send)

        refusal = self._refusal(scope, headers, path, method)
        if refusal is not None:
            await refusal(scope, receive, send)
            return

        # ?token=... : check it, keep it in a cookie, and drop it from the address.
        query = scope.get("query_string", b"").decode("latin-1")
        if method in ("GET", "HEAD") and self.tokens.enabled and "token=" in query:
            pairs = parse_qsl(query, keep_blank_values=True)
            given = [v for k, v in pairs if k == "token"]
            auth = self.tokens.lookup(given[-1] if given else None)
            if auth is None:
                await _error(401, "that token is not valid", path, headers)(scope, receive, send)
                return
            rest = urlencode([(k, v) for k, v in pairs if k != "token"])
            response: Response = RedirectResponse(
                same_origin_path(path) + (f"?{rest}" if rest else ""), status_code=303
            )
            response.set_cookie(
                TOKEN_COOKIE,
                given[-1],
                max_age=TOKEN_COOKIE_MAX_AGE,
                httponly=True,
                samesite="lax",
                path="/",
            )
            await response(scope, receive, send)
            return

        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        candidate = _bearer(headers)
        if candidate is None and self.tokens.enabled:
            candidate = cookie_parser(headers.get("cookie", "")).get(TOKEN_COOKIE)
        auth = self.tokens.lookup(candidate)
        if auth is None and not public:
            response = _error(
                401,
                "this server needs a token: send 'Authorization: Bearer <token>', or open "
                "the page once with ?token=<token> added to its address",
                path,
                headers,
            )
            if _wants_json(path, headers):
                response.headers["www-authenticate"] = 'Bearer realm="bayesal"'
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["bayesal_auth"] = auth or Auth("public")
        await self.app(scope, _limited(receive, _body_limit(path)), send)

    def _refusal(self, scope: Scope, headers: Headers, path: str, method: str) -> Response | None:
        if not self.tokens.enabled and not is_loopback(_host_name(headers.get("host", ""))):
            return _error(
                403,
                "this server runs without a token, so it answers only requests addressed to "
                "localhost; restart it with a token to share it",
                path,
                headers,
            )
        if method not in ("GET", "HEAD", "OPTIONS"):
            if headers.get("sec-fetch-site", "") == "cross-site" or not _same_origin(headers):
                return _error(403, "cross-site requests are refused", path, headers)
            declared = headers.get("content-length")
            if declared is not None:
                try:
                    size = int(declared)
                except ValueError:
                    return _error(400, "Content-Length is not a number", path, headers)
                limit = _body_limit(path)
                if size > limit:
                    return _error(
                        413,
                        f"request body of {size} bytes is over the limit of {limit}",
                        path,
                        headers,
                    )
        return None


def same_origin_path(path: str) -> str:
    """``path`` as a redirect target on this server only: ``//evil.example/x`` (or
    ``/\\evil.example``), which a browser reads as another host, becomes
    ``/evil.example/x``; anything not starting with ``/`` becomes ``/``."""
    if not path.startswith("/"):
        return "/"
    return "/" + path.lstrip("/\\")


def _same_origin(headers: Headers) -> bool:
    origin = headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-origin request (curl, httpx, Label Studio)
    if origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


#: Paths whose bodies may reach :data:`MAX_ML_BODY`: the ML backend's and a posted
#: segmentation mask (base64 of one byte per pixel: up to about 3 million pixels).
LARGE_BODY_PATHS = ML_PATHS | {"/api/mask"}


def _body_limit(path: str) -> int:
    return MAX_ML_BODY if path in LARGE_BODY_PATHS else MAX_BODY


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses a body growing past ``limit`` bytes (413)."""
    received = 0

    async def wrapped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, f"request body over the limit of {limit} bytes")
        return message

    return wrapped


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra: Iterable[tuple[bytes, bytes]] = (
                (name, value) for name, value in SECURITY_HEADERS if name not in present
            )
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


def auth_of(state: Any) -> Auth:
    """The :class:`Auth` the guard put on a request's state."""
    return getattr(state, "bayesal_auth", None) or Auth("open")
