"""``/authz``: the gateway's check, for nginx ``auth_request`` and HTTP external authorization.

Input: the client's method and URI from ``X-Original-Method`` / ``X-Original-URI`` (the nginx
convention; without them, the method of this request and the path after ``/authz``, the
ext_authz ``path_prefix`` convention), the client's headers as sent, and the body when the
gateway forwards one. The path is first made canonical (authledger.gateway.paths: decoded once;
ambiguous forms such as encoded ``/``, dot segments, ``;`` or NUL → 400 ``Invalid Url``),
and the router and the verifier both see that one path. The API is the one the gateway
names in ``X-Ca-Api-Id`` when the gateway proves it sent it (authledger.gateway.trust), else the one
whose ``method`` + ``path`` pattern (``/v1/items/{id}``) matches; none → 404 ``Invalid Url``.

Output: 200 with ``X-Ca-App-Id``, ``X-Ca-Key``, ``X-Ca-Stage`` and ``CaAppExtInfo`` for the
backend, or the table's status with ``X-Ca-Error-Message``. Every failure also carries
``X-Ca-Error-Status``: nginx ``auth_request`` only understands 2xx/401/403, so when the
gateway says ``X-Authz-Mode: auth_request`` a failure is answered 401 (when the real
status is 401) or 403, and the shipped nginx config turns ``X-Ca-Error-Status`` back into
the client's status (examples/nginx/authledger.conf, docs/gateway.md).

``X-Authz-Mode: forward_auth`` (Caddy's ``forward_auth``, examples/caddy/Caddyfile): no body
either, but the real status is answered, since Caddy hands any non-2xx answer to the client.

Body integrity: in ``auth_request`` and ``forward_auth`` mode the gateway sends no body, so
the verifier is given none; see docs/gateway.md for what that means for Content-MD5 and
form bodies.

Header values are sent as printable ASCII: anything else (non-ASCII text in an extension,
a CR from ``%0D`` in a StringToSign) is percent-encoded as UTF-8.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from starlette.routing import Route

from authledger.gateway.paths import InvalidPath, canonical_path
from authledger.gateway.routing import RouteTable
from authledger.gateway.signing import header_text
from authledger.gateway.trust import PROOF_HEADER, ApiIdTrust
from ledger.errors import LedgerError
from ledger.rules import normal_host

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

log = logging.getLogger("authledger.error")
LOG_KEY = "authledger.log"
_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
_GATEWAY_HEADERS = frozenset((b"x-original-method", b"x-original-uri", b"x-authz-mode"))
# The Host the gateway itself routed by (the shipped nginx config sets it to $host; Caddy's
# forward_auth passes it on). Not X-Original-Host by default: a gateway config that does not
# set that header lets the client's own copy through (tests/service/test_groups.py).
DEFAULT_HOST_HEADER = "Host"
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


def host_header_name(value: object) -> bytes:
    """The configured host header (``--host-header``) as ASGI names it: lower-case bytes."""
    if not isinstance(value, str) or not value or len(value) > 64 or not set(value.lower().encode()) <= _TOKEN:
        from ledger.errors import InvalidInput

        raise InvalidInput(f"host header must be an HTTP header name, got {str(value)[:40]!r}", field="host_header")
    return value.lower().encode()


def header_value(text: str) -> bytes:
    """A header-safe rendering: printable ASCII as is, anything else percent-encoded (UTF-8)."""
    if text.isascii() and text.isprintable():
        return text.encode("ascii")
    return quote(text, safe=_SAFE, encoding="utf-8", errors="surrogateescape").encode("ascii")


class Router:
    """Resolves (host, method, canonical path) to an API id from the index's APIs: segment
    tries (authledger.gateway.routing) rebuilt when the index's APIs or hosts change (``api_version``),
    not on every grant or key event; no pattern ever becomes a regex.

    A host bound to an API group (``index.hosts()``) routes only among that group's APIs:
    one dict lookup, then its trie. Any other host (none, unknown, malformed) routes among
    the APIs of hostless groups (default groups and groups bound to no host); there, when
    the APIs matching a request belong to more than one account (ledgers written before the
    registration rules of ledger.commands.groups, or a race between two registrations), the
    request is refused (``AMBIGUOUS``), never handed to the more specific or the later API.
    Among one account's APIs the most specific still wins.
    """

    AMBIGUOUS = "ambiguous_route"

    def __init__(self, index: Any) -> None:
        self._index = index
        self._version = -1
        self._table = RouteTable()  # the hostless groups' APIs
        self._hosts: dict[str, RouteTable] = {}  # bound host -> its group's table

    def _rebuild(self) -> None:
        index = self._index
        for _ in range(5):  # the follower thread may add an API while we read
            try:
                version = index.api_version  # read first: a change while we build rebuilds again
                bound = index.hosts() if hasattr(index, "hosts") else {}
                groups: dict[str, RouteTable] = {g: RouteTable() for g in set(bound.values())}
                table = RouteTable()
                for api_id in index.api_ids():
                    s = index.api_settings(api_id)
                    if s is None or not s.path_pattern:
                        continue
                    group_table = groups.get(s.group_id) if s.group_id is not None else None
                    if group_table is not None:
                        group_table.add(s.path_pattern, s.http_method, api_id, s.owner)
                    else:
                        table.add(s.path_pattern, s.http_method, api_id, s.owner)
                hosts = {h: groups[g] for h, g in bound.items()}
                break
            except RuntimeError:
                continue
        else:  # pragma: no cover - five races in a row
            return
        self._table, self._hosts = table, hosts
        self._version = version

    def route(self, host: str | None, method: str, path: str) -> tuple[str | None, str | None]:
        """(API id, None), or (None, why): ``no_route`` or ``ambiguous_route``."""
        if self._index.api_version != self._version:
            self._rebuild()
        if host is not None and self._hosts:
            table = self._hosts.get(host)
            if table is None:
                normal = normal_host(host)
                table = self._hosts.get(normal) if normal is not None else None
            if table is not None:
                api_id = table.resolve(method, path)
                return (api_id, None) if api_id is not None else (None, "no_route")
        api_id, ambiguous = self._table.resolve_owned(method, path)
        if ambiguous:
            return None, self.AMBIGUOUS
        return (api_id, None) if api_id is not None else (None, "no_route")

    def resolve(self, method: str, path: str, host: str | None = None) -> str | None:
        """The API a request to ``host`` (None: no host) is routed to, else None."""
        return self.route(host, method, path)[0]


_text = header_text  # one decoding of header bytes for /authz and verify-request


_ID_BASE = uuid.uuid4().hex
_ID_HEAD = f"{_ID_BASE[:8]}-{_ID_BASE[8:12]}-{_ID_BASE[12:16]}-{_ID_BASE[16:20]}-"
_ID_COUNTER = itertools.count()


def next_request_id() -> str:
    """A request id in UUID form: a random 80-bit prefix per process, then a counter.

    An id correlates a denial with the log line; it is not a secret and not a nonce, so it
    need not be unpredictable, only unique. ``uuid.uuid4()`` per request (an ``os.urandom``
    call) was ~6% of a verification; ``next()`` on a count is atomic and costs nothing.
    """
    return f"{_ID_HEAD}{next(_ID_COUNTER) & 0xFFFFFFFFFFFF:012x}"


class AuthzEndpoint:
    """A raw ASGI endpoint: the hot path of the gateway, no framework objects per request."""

    def __init__(self, service: Any) -> None:
        self.service = service
        trust = getattr(service, "api_id_trust", None)
        self.trust: ApiIdTrust = trust if isinstance(trust, ApiIdTrust) else ApiIdTrust.from_environ()
        # The request's host: this header (the gateway's forwarded host), else Host.
        self.host_header = host_header_name(getattr(service, "host_header", None) or DEFAULT_HOST_HEADER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        original_method = original_uri = api_id = proof = forwarded_host = plain_host = None
        auth_request = no_body = False
        headers: list[tuple[str, str]] = []
        host_header = self.host_header
        for name, value in scope["headers"]:
            if name == host_header:
                forwarded_host = value
                if name != b"host":
                    continue  # the gateway's, like X-Original-URI: not the client's header
            elif name == b"host":
                plain_host = value
            if name in _GATEWAY_HEADERS:
                if name == b"x-original-method":
                    original_method = _text(value)
                elif name == b"x-original-uri":
                    original_uri = _text(value)
                else:
                    mode = value.lower()
                    auth_request = mode == b"auth_request"
                    no_body = auth_request or mode == b"forward_auth"
                continue
            if name == b"x-ca-api-id":
                api_id = _text(value).strip() or None
                continue
            if name == PROOF_HEADER:
                proof = value
                continue
            headers.append((_text(name), _text(value)))

        method = original_method or scope["method"]
        if original_uri is not None:
            path, _, query = original_uri.partition("?")
        else:
            raw_path = scope.get("raw_path")  # as sent: scope["path"] is already decoded
            rest = _text(raw_path)[len("/authz") :] if raw_path else scope["path"][len("/authz") :]
            path = rest or "/"
            query = scope.get("query_string", b"").decode("latin-1")
        try:
            path = canonical_path(path)
        except InvalidPath:
            await _deny(send, 400, "Invalid Url", auth_request, next_request_id())
            extra = scope.get(LOG_KEY)
            if extra is not None:
                extra.update(reason="invalid_path")
            return
        if api_id is not None and not self.trust.trusted(proof):
            api_id = None  # a client's X-Ca-Api-Id never chooses the API

        body: bytes | None = None
        if not no_body:
            chunks = []
            more = True
            try:
                while more:
                    message = await receive()
                    chunks.append(message.get("body", b""))
                    more = message.get("more_body", False)
            except LedgerError:  # the body limit (authledger.service.app): refuse like a gateway would
                await _deny(send, 413, "Request Entity Too Large", False, next_request_id())
                return
            body = b"".join(chunks)
        request_id = next_request_id()
        extra = scope.get(LOG_KEY)

        service = self.service
        if api_id is None:
            host = forwarded_host if forwarded_host is not None else plain_host
            api_id, why = service.router.route(_text(host).strip() if host is not None else None, method, path)
            if api_id is None:
                await _deny(send, 404, "Invalid Url", auth_request, request_id)
                if extra is not None:
                    extra.update(reason=why)
                return
        try:
            verdict = service.verifier.verify(
                method, path, query, headers, body, api_id, body_forwarded=not no_body
            )
        except Exception:  # the nonce store or the index failed: infrastructure, not input
            log.exception("authz: verification failed for API %s", api_id)
            await _deny(send, 500, "Internal Error", auth_request, request_id)
            return
        if extra is not None:
            extra.update(api_id=api_id, app_id=verdict.app_id, stage=verdict.stage,
                         reason=verdict.reason.value if verdict.reason is not None else None)
        if not verdict.accepted:
            await _deny(send, verdict.status, verdict.error_message or "Unauthorized", auth_request, request_id)
            return
        out = [(b"content-length", b"0"), (b"x-ca-request-id", request_id.encode())]
        if verdict.app_id is not None:
            out.append((b"x-ca-app-id", header_value(verdict.app_id)))
        if verdict.app_key is not None:
            out.append((b"x-ca-key", header_value(verdict.app_key)))
        if verdict.stage is not None:
            out.append((b"x-ca-stage", verdict.stage.encode()))
        # Always sent, empty when the app has none: a gateway that copies it (Caddy's
        # copy_headers) must replace a client's own CaAppExtInfo, never keep or invent one.
        out.append((b"caappextinfo", header_value(verdict.extension) if verdict.extension else b""))
        await send({"type": "http.response.start", "status": 200, "headers": out})
        await send({"type": "http.response.body", "body": b""})


async def _deny(send: Send, status: int, message: str, auth_request: bool, request_id: str) -> None:
    answered = status
    if auth_request:
        answered = 401 if status == 401 else 403
    await send({"type": "http.response.start", "status": answered, "headers": [
        (b"content-length", b"0"),
        (b"x-ca-error-message", header_value(message)),
        (b"x-ca-error-status", str(status).encode()),
        (b"x-ca-request-id", request_id.encode()),
    ]})
    await send({"type": "http.response.body", "body": b""})


METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def routes(service: Any) -> list[Route]:
    endpoint = AuthzEndpoint(service)
    return [
        Route("/authz", endpoint, methods=METHODS),
        Route("/authz/{rest:path}", endpoint, methods=METHODS),
    ]
