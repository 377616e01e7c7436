"""Request bodies capped while they stream, before a route (or its sign-in check) reads more.

Pure ASGI middleware: it wraps `receive`, counts the bytes the app takes, and past the cap
answers 413 itself; the app gets an error instead of more bytes, and whatever it answers to
that is dropped. The server discards the rest of the body unread, so memory does not grow with
it. A route's cap follows the body it declares (`openapi_extra`): multipart uploads
MAX_UPLOAD_MB, the mask PNG 64 MB, every other route (JSON, or no body) MAX_JSON_KB. FastAPI
reads a JSON route's body before solving its dependencies (authentication included), so that
cap is what an anonymous client can make the web process hold.
"""

import json

from backend.api.masks import MAX_MASK_BYTES
from backend.config import Settings
from backend.errors import TooLarge

# Boundary lines and part headers a multipart body may add to MAX_UPLOAD_MB, per part allowed
# (the usual part needs 150-400 bytes; a long file name more).
PART_ENVELOPE = 1024
MULTIPART, PNG, JSON = "multipart/form-data", "image/png", "application/json"
KINDS = (MULTIPART, PNG, JSON)


class BodyTooLarge(TooLarge):
    """Raised into the app when it reads past its cap (BodyLimits answers the request)."""


def body_kind(route) -> str:
    """The body a route streams by the request body it declares: multipart, PNG or JSON."""
    extra = getattr(route, "openapi_extra", None) or {}
    content = extra.get("requestBody", {}).get("content", {})
    for kind in KINDS[:2]:
        if kind in content:
            return kind
    return JSON


def _size(n: int) -> str:
    return f"{n // 2**20} MB" if n % 2**20 == 0 else f"{n // 1024} KB"


def limits(settings: Settings) -> dict[str, int]:
    """Bytes a body of each kind may hold."""
    return {
        MULTIPART: settings.max_upload_bytes + settings.max_form_fields * PART_ENVELOPE,
        PNG: MAX_MASK_BYTES,
        JSON: settings.max_json_bytes,
    }


def refusal(settings: Settings, kind: str) -> str:
    """What a person is told when a body of this kind is over its limit."""
    if kind == MULTIPART:
        size = _size(settings.max_upload_bytes)
        return f"The upload is larger than the {size} limit (SEGTUNE_MAX_UPLOAD_MB)."
    if kind == PNG:
        return f"A mask PNG may be at most {_size(MAX_MASK_BYTES)}."
    size = _size(settings.max_json_bytes)
    return f"The request body is larger than the {size} limit (SEGTUNE_MAX_JSON_KB)."


def _framing(headers) -> tuple[int | None, bool]:
    """The declared length (None if none or unreadable) and whether a body comes at all."""
    declared, has_body = None, False
    for name, value in headers:
        if name == b"content-length":
            declared = int(value) if value.isdigit() else None
            has_body = has_body or value != b"0"
        elif name == b"transfer-encoding":
            has_body = True
    return declared, has_body


async def _answer(send, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimits:
    """Caps each HTTP request body by its route's kind (see the module docstring)."""

    def __init__(self, app, settings: Settings):
        self.app = app
        # Read per request: a setting changed at run time (tests do) applies at once.
        self.settings = settings
        self._kinds: dict[int, str] = {}  # by id(): routes are unhashable, and live as long

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, has_body = _framing(scope["headers"])
        if not has_body:  # GETs and the like: nothing to count
            await self.app(scope, receive, send)
            return
        caps = limits(self.settings)
        # The route is not known before routing: a length above every cap is refused at once.
        if declared is not None and declared > max(caps.values()):
            await _answer(send, refusal(self.settings, max(caps, key=caps.__getitem__)))
            return
        kind, most, received = None, 0, 0
        refused = started = False

        async def limited_receive():
            nonlocal kind, most, received, refused
            if kind is None:  # the first read comes after routing: the route is in the scope
                kind = self._kind(scope.get("route"))
                most = caps[kind]
                refused = declared is not None and declared > most
            if refused:
                raise BodyTooLarge(refusal(self.settings, kind))
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > most:
                    refused = True
                    raise BodyTooLarge(refusal(self.settings, kind))
            return event

        async def guarded_send(event):
            nonlocal started
            if refused and not started:  # the app's answer to the refusal; ours goes instead
                return
            started = started or event["type"] == "http.response.start"
            await send(event)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused or started:
                raise
        if refused and not started:
            await _answer(send, refusal(self.settings, kind))

    def _kind(self, route) -> str:
        kind = self._kinds.get(id(route))
        if kind is None:
            kind = self._kinds[id(route)] = body_kind(route)
        return kind
