"""The verifier's canonicalisation: the C accelerator when it is built, else the reference.

``authledger.gateway._digest`` (authledger/gateway/_digest.c, built by ``pip install -e .``; optional) computes
the hot, pure parts of a digest check — the header map, the headers the check reads, the
decoded parameters, the X-Ca-Signature-Headers names, both spellings of StringToSign and the
HMAC from two keyed hash states — with the semantics of the
pure-Python reference in ``authledger.gateway.signing`` (tests/gateway/test_gateway_accelerator.py
proves them equal with hypothesis). Each C function hands inputs it does not handle itself
(str subclasses, non-dict mappings, non-str values) to the ``authledger.gateway.signing`` function of
the same name, so each is total exactly where its reference is.

``AUTHLEDGER_PURE_PYTHON`` set to anything but ``""``/``"0"`` forces the reference (read at
import, ``load_native``). ``ACCELERATED`` tells which one is in use; ``native`` is the C module
or None. It is the project's only C module: the auth index's check and the audit build are
pure Python (issue 16, point 2: they were a few per cent of a request and a one-off build).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from types import ModuleType

from authledger.gateway import signing
from authledger.gateway.signing import EmptyValueStyle, Headers, form_text

__all__ = [
    "ACCELERATED",
    "PURE_PYTHON_ENV",
    "digest_fields",
    "header_map",
    "load_native",
    "native",
    "parameters",
    "parse_params",
    "request_strings",
    "signature",
    "signature_matches",
    "signed_header_names",
    "string_to_sign",
    "strings_to_sign",
]

PURE_PYTHON_ENV = "AUTHLEDGER_PURE_PYTHON"


def load_native(name: str) -> ModuleType | None:
    """The optional C module ``name``, unless the reference is forced (``PURE_PYTHON_ENV``)
    or the module was not built."""
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


native = load_native("authledger.gateway._digest")
ACCELERATED = native is not None
_impl: ModuleType = native if native is not None else signing

header_map: Callable[[Headers], dict[str, str]] = _impl.header_map
parameters: Callable[[str, str | None], dict[str, str]] = _impl.parameters
signed_header_names: Callable[[str], tuple[tuple[str, str], ...]] = _impl.signed_header_names
strings_to_sign: Callable[
    [str, Mapping[str, str], str, Mapping[str, str]], tuple[str, str | None]
] = _impl.strings_to_sign
digest_fields: Callable[[Mapping[str, str]], signing.DigestFields] = _impl.digest_fields
signature: Callable[[signing.KeyedStates, str], bytes] = _impl.signature
signature_matches: Callable[[signing.KeyedStates, str, str], bool] = _impl.signature_matches
request_strings: Callable[
    [str, Mapping[str, str], str, str, str | None], tuple[str, str | None]
] = _impl.request_strings


def parse_params(query: str, content_type: str | None, body: bytes | None) -> dict[str, str]:
    """Return the decoded parameters (authledger.gateway.signing.parse_params)."""
    return parameters(query, form_text(content_type, body))


def string_to_sign(
    method: str,
    path: str,
    query: str,
    headers: Headers,
    body: bytes | None,
    *,
    empty_value_style: EmptyValueStyle = "bare",
) -> str:
    """Return the StringToSign of a request as received (authledger.gateway.signing.string_to_sign)."""
    hmap = header_map(headers)
    form = form_text(hmap.get("content-type"), body)
    bare, equals = request_strings(method, hmap, path, query, form)
    if empty_value_style == "equals" and equals is not None:
        return equals
    return bare
