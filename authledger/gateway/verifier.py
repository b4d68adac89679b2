"""Decide whether a request may reach its API: digest (HMAC) or AppCode authentication.

Implements docs/digest-auth.md. Digest requests are checked in exactly the
table's order: AppKey, signature present, signature method, timestamp, clock window,
Content-MD5, signature, nonce, then the index's app/grant decision. The first failure is
the answer; ``Verdict.error_message`` is the ``X-Ca-Error-Message`` text.

``Verdict`` and the reason → status table live in ``authledger.gateway.errors``; StringToSign,
parameter and time parsing in ``authledger.gateway.signing``. ``verify`` never raises for request
input: parsing is total rather than guarded by broad ``except``. Exceptions raised by the index or the nonce store
(infrastructure failures) do propagate. The AppSecret is never logged nor put in a
verdict; ``Verdict.string_to_sign`` is the server's StringToSign, which holds no secret.

Decisions the spec leaves open (all statuses/messages are ``X-Ca-Error-Message`` texts):

- Unknown ``api_id``: 404 ``Invalid Api`` (reason UNKNOWN_API), checked before anything else,
  since the API's settings drive every later check.
- ``auth_type`` ``ANONYMOUS``: accepted with no credential checks; any other value is
  treated as ``APP`` (fail closed).
- Headers: case-insensitive; a repeated header's first value wins; items that are not
  (str, str) pairs are ignored. Non-str method/path/query/api_id: bytes are decoded as
  UTF-8 (surrogateescape), anything else counts as empty.
- ``X-Ca-Signature-Method`` wins over ``X-Ca-SignatureMethod`` when both are sent; absent or
  empty means ``HmacSHA256``; names match exactly (case-sensitive). A method not in the
  API's ``signature_methods`` (or unknown) → 400 ``Invalid Signature Method``.
- Timestamp: a non-empty ``X-Ca-Timestamp`` is the only source (ASCII digits, epoch ms, at
  most 15 digits; anything else → 400 ``Invalid Timestamp``, no fallback to ``Date``).
  Otherwise ``Date`` in RFC 1123 form, zone ``GMT``/``UTC``/``Z`` optionally followed by an
  offset (``GMT+00:00``, the doc example) or a bare ``+hhmm``/``+hh:mm`` offset.
  The window is inclusive: ``|now - timestamp| <= window_seconds``.
- Content-MD5: an empty header value counts as "not sent". A non-form body sent without
  Content-MD5 is accepted (the scheme only checks it "when sent"), so such a body is NOT
  integrity-protected.
- ``X-Ca-Stage``: absent or empty → ``RELEASE``; otherwise it must be exactly one of
  ``STAGES`` (upper case), else 400 ``Invalid Stage``. For digest requests this is checked
  after the signature (only authenticated callers learn about it) and before the nonce
  (a malformed request does not burn its nonce); for AppCode after the code lookup.
- Empty-value spelling: the ``?empty`` StringToSign is tried first; only if it fails and some
  parameter is empty is the ``?empty=`` spelling tried. The failure message always shows the
  ``?empty`` form. Both comparisons are constant-time on bytes.
- A key in both the query and a form body: the form's value is signed, as the vendor's clients
  sign it; the query's copy is never tried as well (that would leave the form's copy, the
  one the vendor's backends read, open to change). The failure message escapes non-ASCII
  unambiguously (``authledger.gateway.errors.invalid_signature_message``).
- Nonce: absent/empty when the API requires one, or longer than 256 characters → 400
  ``Invalid Nonce`` (at the nonce step, after the signature). A nonce sent to an API with
  ``nonce_required=False`` is still checked for replay. Nonces are remembered per AppKey for
  ``2 * window_seconds + 1`` s (a request stamped ``window`` seconds in the future stays
  acceptable for ``2 * window``, inclusive). ``nonce_store=None`` → a private ``InMemoryNonceStore``
  without a fence (servers pass one fenced at their start: authledger.service.app).
- Replay fence: a request with a nonce whose timestamp is before the store's ``fence``
  (the process start for a process-local store, the current Redis epoch for the shared
  one) → 400 ``Timestamp Expired``, at the nonce step: its nonce may have been used
  where the store cannot see it (before a restart, before Redis lost its data). One float
  compare; requests without a nonce have no replay protection to fence.
- Index decisions: APP_DISABLED → 403 ``App Disabled``; APP_DELETED and UNKNOWN_KEY → 400
  ``Invalid AppKey`` (a deleted app's key is as good as unknown; reason keeps the truth);
  NOT_AUTHORIZED and STAGE_NOT_AUTHORIZED → 403 ``Unauthorized``; AUTHORIZATION_EXPIRED →
  403 ``Authorization Expired``; UNKNOWN_API → 404 ``Invalid Api``; APPCODE_NOT_ALLOWED →
  401 ``Invalid AppCode``. Only ``allowed=True`` with reason OK accepts; any other mix is
  403 ``Unauthorized`` (fail closed).
- AppCode: ``Authorization: APPCODE <code>`` (scheme word case-insensitive, one space)
  selects AppCode auth whatever other headers are sent. A query ``AppCode``/``appcode``/
  ``appCode``/``APPCODE`` parameter (first spelling found in that order) selects it only on
  ``HEADER_QUERY`` APIs and only when no ``X-Ca-Signature`` is sent (so a signed request may
  carry a business parameter of that name); on other APIs it is an ordinary parameter.
  Empty or unknown code → 401 ``Invalid AppCode``; AppCode on a ``DISABLE`` API (or query
  form on a ``HEADER`` API, which cannot happen by the rule above) → 401 ``Invalid AppCode``
  with reason APPCODE_NOT_ALLOWED — same answer as a wrong code, so probing does not reveal
  the API's configuration.
- Error messages embed the StringToSign with ``\\n`` → ``#`` and nothing else escaped; the
  HTTP layer must encode header values safely (``\\r`` from ``%0D`` may appear).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from hmac import compare_digest
from typing import Protocol

from authledger.gateway.accelerator import (
    digest_fields,
    header_map,
    parameters,
    request_strings,
    signature_matches,
)
from authledger.gateway.errors import DECISION_ERRORS, Verdict, invalid_signature_message, reject
from authledger.gateway.nonces import InMemoryNonceStore, NonceStore
from authledger.gateway.signing import (
    DIGESTS,
    KeyedStates,
    body_bytes,
    content_md5,
    form_text,
    keyed_states,
    request_time,
)
from projections.decision import STAGES, ApiSettings, Decision, Reason

__all__ = ["AuthIndexView", "Verdict", "Verifier"]


class AuthIndexView(Protocol):
    """What the verifier reads from the auth index."""

    def secret_for(self, app_key: str) -> tuple[str, str] | None:
        """Return (app_id, plaintext AppSecret) of a live key pair, else None."""
        ...

    def app_for_code(self, app_code: str) -> str | None:
        """Return the app_id of a live AppCode, else None."""
        ...

    def api_settings(self, api_id: str) -> ApiSettings | None:
        """Return the API's security settings, else None."""
        ...

    def check(self, credential: str, api_id: str, stage: str, at: float, *, kind: str) -> Decision:
        """Decide whether the credential may call the API in the stage at epoch seconds ``at``
        (the verifier asks with ``kind="app_id"``: it has authenticated the app itself)."""
        ...


_STAGES = frozenset(STAGES)
_OK = Reason.OK  # a module global is cheaper to load than an Enum member
_APPCODE_QUERY_NAMES = ("AppCode", "appcode", "appCode", "APPCODE")
_MAX_NONCE_LENGTH = 256
_MAX_CACHED_KEYS = 4096


def _text(value: object) -> str:
    """Return request text (str as is, bytes as UTF-8 surrogateescape, others empty)."""
    if type(value) is str:
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    return ""


class Verifier:
    """Authenticates requests against an AuthIndexView, in the scheme's order of checks."""

    def __init__(
        self,
        index: AuthIndexView,
        *,
        window_seconds: float = 900,
        nonce_store: NonceStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._index = index
        self._window = float(window_seconds)
        # A timestamp may be `window` ahead and still pass `window` later, inclusively: keep
        # nonces one second past 2 × window so the replay at the last valid instant is caught.
        self._nonce_ttl = 2.0 * self._window + 1.0
        self._nonces: NonceStore = nonce_store if nonce_store is not None else InMemoryNonceStore()
        self._clock = clock
        # HMAC's keyed hash states by (secret, method): re-keying costs a third of an HMAC.
        self._keyed: dict[tuple[str, str], KeyedStates] = {}

    def verify(
        self,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]] | Mapping[str, str],
        body: bytes | None,
        api_id: str,
        *,
        body_forwarded: bool = True,
    ) -> Verdict:
        """Return the verdict for one request as received (never raises on request input).

        ``body_forwarded=False`` says the gateway did not pass the body on (nginx
        ``auth_request``): ``Content-MD5`` is then still covered by the signature, but
        comparing it with the body is left to the backend, and form parameters cannot be
        seen (a signed form POST fails its signature check).
        """
        if type(api_id) is not str:
            api_id = _text(api_id)
        api = self._index.api_settings(api_id)
        if api is None:
            return reject(404, "Invalid Api", Reason.UNKNOWN_API)
        hmap = header_map(headers)
        if type(query) is not str:
            query = _text(query)
        if api.auth_type == "ANONYMOUS":
            stage = hmap.get("x-ca-stage") or "RELEASE"
            if stage not in _STAGES:
                return reject(400, "Invalid Stage", None)
            return Verdict(True, 200, None, stage=stage, reason=Reason.OK)
        authorization = hmap.get("authorization")
        if authorization and authorization[:8].upper() == "APPCODE ":
            return self._verify_app_code(api, api_id, authorization[8:], hmap)
        if api.appcode_mode == "HEADER_QUERY" and query and "x-ca-signature" not in hmap:
            code = _query_app_code(query)
            if code is not None:
                return self._verify_app_code(api, api_id, code, hmap)
        if type(method) is not str:
            method = _text(method)
        if type(path) is not str:
            path = _text(path)
        return self._verify_digest(api, api_id, method, path, query, hmap, body, body_forwarded)

    def _verify_digest(
        self,
        api: ApiSettings,
        api_id: str,
        method: str,
        path: str,
        query: str,
        hmap: dict[str, str],
        body: object,
        body_forwarded: bool = True,
    ) -> Verdict:
        """Check a digest-signed request, in the table's order."""
        app_key, provided, sig_method, stamp, sent_md5, stage, nonce = digest_fields(hmap)
        found = self._index.secret_for(app_key) if app_key else None
        if found is None or app_key is None:
            return reject(400, "Invalid AppKey", Reason.UNKNOWN_KEY, app_key=app_key)
        app_id, secret = found
        if not provided:
            return reject(404, "Empty Signature", None, app_id=app_id, app_key=app_key)
        if sig_method not in DIGESTS or sig_method not in api.signature_methods:
            return reject(400, "Invalid Signature Method", None, app_id=app_id, app_key=app_key)
        now = self._clock()
        if stamp is None:  # no valid X-Ca-Timestamp: an invalid one, or the Date header
            stamp = request_time(hmap)
            if stamp is None:
                return reject(400, "Invalid Timestamp", None, app_id=app_id, app_key=app_key)
        if abs(now - stamp) > self._window:
            return reject(400, "Timestamp Expired", None, app_id=app_id, app_key=app_key)
        data = body if type(body) is bytes else b"" if body is None else body_bytes(body)
        if sent_md5 and body_forwarded:
            wanted_md5 = sent_md5.encode("utf-8", "surrogatepass")
            if not (data and compare_digest(wanted_md5, content_md5(data).encode())):
                return reject(400, "Invalid Content-MD5", None, app_id=app_id, app_key=app_key)

        form = form_text(hmap.get("content-type"), data) if data else None
        sts, alternative = request_strings(method, hmap, path, query, form)
        keyed = self._keyed
        states = keyed.get((secret, sig_method))
        if states is None:
            if len(keyed) >= _MAX_CACHED_KEYS:
                keyed.clear()
            states = keyed[(secret, sig_method)] = keyed_states(secret, sig_method)
        if not signature_matches(states, sts, provided):
            if alternative is not None and not signature_matches(states, alternative, provided):
                alternative = None
            if alternative is None:
                message = invalid_signature_message(sts)
                return reject(
                    400, message, None, app_id=app_id, app_key=app_key, string_to_sign=sts
                )
            sts = alternative

        if stage not in _STAGES:
            return reject(
                400, "Invalid Stage", None, app_id=app_id, app_key=app_key, string_to_sign=sts
            )
        if nonce:
            if len(nonce) > _MAX_NONCE_LENGTH:
                return reject(
                    400,
                    "Invalid Nonce",
                    None,
                    app_id=app_id,
                    app_key=app_key,
                    stage=stage,
                    string_to_sign=sts,
                )
            nonces = self._nonces
            # The replay fence (authledger.gateway.nonces): before the claim, so a fenced request burns
            # no nonce, and after it, since a Redis store learns a new epoch from its reply.
            if stamp < nonces.fence:
                return self._fenced(app_id, app_key, stage, sts)
            used = nonces.seen(app_key, nonce, self._nonce_ttl, now)
            if stamp < nonces.fence:
                return self._fenced(app_id, app_key, stage, sts)
            if used:
                return reject(
                    400,
                    "Nonce Used",
                    None,
                    app_id=app_id,
                    app_key=app_key,
                    stage=stage,
                    string_to_sign=sts,
                )
        elif api.nonce_required:
            return reject(
                400,
                "Invalid Nonce",
                None,
                app_id=app_id,
                app_key=app_key,
                stage=stage,
                string_to_sign=sts,
            )
        decision = self._index.check(app_id, api_id, stage, now, kind="app_id")
        if decision.allowed and decision.reason is _OK:  # _decide(), inline for the usual case
            return Verdict(True, 200, None, app_id, app_key, stage, decision.extension, sts, _OK)
        return self._refuse(decision, app_id, app_key, stage, sts)

    @staticmethod
    def _fenced(app_id: str, app_key: str, stage: str, sts: str) -> Verdict:
        """Stamped before the nonce store's fence: its nonce may have been used unseen."""
        return reject(
            400,
            "Timestamp Expired",
            None,
            app_id=app_id,
            app_key=app_key,
            stage=stage,
            string_to_sign=sts,
        )

    def _verify_app_code(
        self, api: ApiSettings, api_id: str, code: str, hmap: dict[str, str]
    ) -> Verdict:
        """Check an AppCode request: code allowed on this API and live, stage, then the grant."""
        if api.appcode_mode not in ("HEADER", "HEADER_QUERY"):
            return reject(401, "Invalid AppCode", Reason.APPCODE_NOT_ALLOWED)
        app_id = self._index.app_for_code(code) if code else None
        if app_id is None:
            return reject(401, "Invalid AppCode", Reason.UNKNOWN_KEY)
        stage = hmap.get("x-ca-stage") or "RELEASE"
        if stage not in _STAGES:
            return reject(400, "Invalid Stage", None, app_id=app_id)
        return self._decide(api_id, app_id, None, stage, self._clock(), None)

    def _decide(
        self,
        api_id: str,
        app_id: str,
        app_key: str | None,
        stage: str,
        now: float,
        sts: str | None,
    ) -> Verdict:
        """Ask the index whether the app may call the API in the stage now, and translate."""
        decision = self._index.check(app_id, api_id, stage, now, kind="app_id")
        if decision.allowed and decision.reason is _OK:
            return Verdict(True, 200, None, app_id, app_key, stage, decision.extension, sts, _OK)
        return self._refuse(decision, app_id, app_key, stage, sts)

    @staticmethod
    def _refuse(
        decision: Decision, app_id: str, app_key: str | None, stage: str, sts: str | None
    ) -> Verdict:
        """Translate an index decision that does not accept."""
        status, message = DECISION_ERRORS.get(decision.reason, (403, "Unauthorized"))
        return Verdict(False, status, message, app_id, app_key, stage, None, sts, decision.reason)


def _query_app_code(query: str) -> str | None:
    """Return the AppCode carried as a query parameter, if any."""
    params = parameters(query, None)
    for name in _APPCODE_QUERY_NAMES:
        if name in params:
            return params[name]
    return None
