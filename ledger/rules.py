"""The validation rules of docs/app-model.md, as pure functions that raise InvalidInput."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from uuid import NAMESPACE_URL, uuid5

from ledger.errors import InvalidInput

STAGES = ("RELEASE", "PRE", "TEST")
APPCODE_MODES = ("DISABLE", "HEADER", "HEADER_QUERY")
AUTH_TYPES = ("APP", "ANONYMOUS")
SIGNATURE_METHODS = ("HmacSHA256", "HmacSHA1")
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY")
MAX_KEY_PAIRS = 10
MAX_BULK = 100
MAX_TAGS = 20

_APP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,25}")
_APP_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")
_APP_SECRET = re.compile(r"[\x21-\x7e]{16,128}")
_APP_CODE = re.compile(r"[A-Za-z0-9]{16,64}")
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}")
_API_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_PARAM_SEGMENT = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]{0,63}\}")
MAX_PATH_SEGMENTS = 32  # of a pattern; authledger.gateway.routing looks up no longer path
_PATH = re.compile(r"/[A-Za-z0-9_.~!$&'()*+,;=:@%/{}-]{0,1023}")


def _short(value: object) -> str:
    """A value fit to quote in an error: printable, short."""
    text = str(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 40 else text[:37] + "..."


def account(value: object, field: str = "actor") -> str:
    """An account (tenant) id: 1-128 characters of letters, digits and _.@:-"""
    if not isinstance(value, str) or not _ACCOUNT.fullmatch(value):
        raise InvalidInput(
            f"{field} must be an account id (1-128 of letters, digits, _ . @ : -), got {_short(value)!r}",
            field=field,
        )
    return value


def app_name(value: object) -> str:
    if not isinstance(value, str) or not _APP_NAME.fullmatch(value):
        raise InvalidInput(
            "name must be 4-26 letters, digits or _, starting with a letter, "
            f"got {_short(value)!r}",
            field="name",
        )
    return value


def _is_utf8(text: str) -> bool:
    """False for a lone surrogate (``\udcff``), which JSON and the CLI can carry but UTF-8 cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def description(value: object) -> str:
    if not isinstance(value, str) or len(value) > 180:
        raise InvalidInput("description must be text of at most 180 characters", field="description")
    if not _is_utf8(value):
        raise InvalidInput("description must be valid Unicode text (no lone surrogates)", field="description")
    return value


MAX_GRANT_DESCRIPTION = 180  # as an app's description (and the vendor's SetAppsAuthorities)


def grant_description(value: object) -> str | None:
    """A grant's optional description: None (or empty: none), else text of at most 180 characters."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_GRANT_DESCRIPTION:
        raise InvalidInput(f"description must be text of at most {MAX_GRANT_DESCRIPTION} characters",
                           field="description")
    if not _is_utf8(value):
        raise InvalidInput("description must be valid Unicode text (no lone surrogates)", field="description")
    return value


def tags(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidInput("tags must be key/value pairs", field="tags")
    if len(value) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags, got {len(value)}", field="tags")
    for k, v in value.items():
        if not isinstance(k, str) or not 1 <= len(k) <= 128 or not _is_utf8(k):
            raise InvalidInput(f"tag key must be 1-128 characters of valid Unicode, got {_short(k)!r}", field="tags")
        if not isinstance(v, str) or len(v) > 128 or not _is_utf8(v):
            raise InvalidInput(f"tag value of {_short(k)!r} must be 0-128 characters of valid Unicode", field="tags")
    return dict(sorted(value.items()))


def extension(value: object) -> str:
    if not isinstance(value, str) or len(value.encode("utf-8", "surrogatepass")) > 1024:
        raise InvalidInput("extension must be text of at most 1,024 bytes UTF-8", field="extension")
    if not _is_utf8(value):
        raise InvalidInput("extension must be valid UTF-8 text", field="extension")
    return value


def app_key(value: object, field: str = "app_key") -> str:
    if not isinstance(value, str) or not _APP_KEY.fullmatch(value):
        raise InvalidInput(
            f"AppKey must be 8-64 characters of A-Z a-z 0-9 _ -, got {_short(value)!r}", field=field
        )
    return value


def app_secret(value: object, field: str = "app_secret") -> str:
    # Never quote the value: it is a secret.
    if not isinstance(value, str) or not _APP_SECRET.fullmatch(value):
        raise InvalidInput(
            "AppSecret must be 16-128 printable ASCII characters without spaces", field=field
        )
    return value


def app_code(value: object, field: str = "code") -> str:
    # Never quote the value: it is a secret.
    if not isinstance(value, str) or not _APP_CODE.fullmatch(value):
        raise InvalidInput("AppCode must be 16-64 characters of A-Z a-z 0-9", field=field)
    return value


def stage(value: object) -> str:
    if value not in STAGES:
        raise InvalidInput(f"stage must be one of {', '.join(STAGES)}, got {_short(value)!r}", field="stage")
    return str(value)


def api_name(value: object) -> str:
    if not isinstance(value, str) or not _API_NAME.fullmatch(value):
        raise InvalidInput(
            f"API name must be 1-128 of letters, digits, _ . -, got {_short(value)!r}", field="name"
        )
    return value


def group(value: object) -> str:
    if not isinstance(value, str) or len(value) > 128 or (value and not _API_NAME.fullmatch(value)):
        raise InvalidInput(f"group must be 0-128 of letters, digits, _ . -, got {_short(value)!r}", field="group")
    return value


_GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
DEFAULT_GROUP_NAME = "default"  # every account's implicit group (ledger.domain.default_group_id)
MAX_HOSTS = 100  # per group
MAX_HOST_LENGTH = 253
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")
_IPV4_PART = re.compile(r"0|[1-9][0-9]{0,2}")


_IDS = uuid5(NAMESPACE_URL, "https://authledger.invalid/")  # = ledger.domain.NAMESPACE


def default_group_id(owner: str) -> str:
    """The id of an account's default API group: implicit (no event), named ``default``, no hosts.

    Every API registered without a group, and every API of a ledger older than groups (its
    ApiRegistered has no ``group_id``), is in its owner's default group."""
    return str(uuid5(_IDS, "default-group:" + owner))


def group_name(value: object) -> str:
    """An API group's name: 1-64 of letters, digits, _ . - (``default`` names the implicit group)."""
    if not isinstance(value, str) or not _GROUP_NAME.fullmatch(value):
        raise InvalidInput(f"group name must be 1-64 of letters, digits, _ . -, starting with a letter or digit, "
                           f"got {_short(value)!r}", field="name")
    if value.lower() == DEFAULT_GROUP_NAME:
        raise InvalidInput("group name 'default' is reserved for the account's default group", field="name")
    return value


def normal_host(value: object) -> str | None:
    """A host name in its one normal form, or None when it is not a plain DNS name or IPv4 address.

    Lower case; one trailing ``.`` and a ``:port`` dropped (``API.Example.com.:443`` →
    ``api.example.com``); then RFC 1123 labels (letters, digits, inner ``-``; 1-63 each;
    253 in all; internationalised names in their ``xn--`` form). No wildcards, no IPv6 or
    bracketed literals, no user info; a name whose last label is all digits must be a
    dotted-quad IPv4 address without leading zeros (``127.1``, ``0x7f.0.0.1``, ``010.0.0.1``
    are refused: resolvers read them as other addresses). Pure: used at registration
    (``host``) and by ``/authz`` on the forwarded host header, where None means "no group".
    """
    if not isinstance(value, str) or not value or len(value) > MAX_HOST_LENGTH + 7 or not value.isascii():
        return None
    text = value.lower()
    name, colon, port = text.rpartition(":")
    if colon:
        if not _PORT.fullmatch(port) or int(port) > 65535 or ":" in name:
            return None
        text = name
    if text.endswith("."):
        text = text[:-1]
    if not text or len(text) > MAX_HOST_LENGTH:
        return None
    labels = text.split(".")
    for label in labels:
        if not _HOST_LABEL.fullmatch(label):
            return None
    if labels[-1].isdigit():
        if len(labels) != 4 or not all(_IPV4_PART.fullmatch(p) and int(p) <= 255 for p in labels):
            return None
    return text


def host(value: object, field: str = "host") -> str:
    """A host name to bind to a group, normalised (``normal_host``); anything else is invalid input."""
    normal = normal_host(value)
    if normal is None:
        raise InvalidInput(
            "host must be a DNS name (letters, digits, '-' in dot-separated labels of 1-63, at most 253 "
            f"characters; no wildcard, no IPv6) or a dotted-quad IPv4 address, got {_short(value)!r}",
            field=field)
    return normal


def appcode_mode(value: object) -> str:
    if value not in APPCODE_MODES:
        raise InvalidInput(
            f"appcode mode must be one of {', '.join(APPCODE_MODES)}, got {_short(value)!r}",
            field="appcode_mode",
        )
    return str(value)


def auth_type(value: object) -> str:
    if value not in AUTH_TYPES:
        raise InvalidInput(f"auth type must be APP or ANONYMOUS, got {_short(value)!r}", field="auth_type")
    return str(value)


def signature_methods(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidInput("signature methods must be HmacSHA256 and/or HmacSHA1", field="signature_methods")
    for v in value:
        if v not in SIGNATURE_METHODS:
            raise InvalidInput(
                f"unknown signature method {_short(v)!r} (HmacSHA256, HmacSHA1)", field="signature_methods"
            )
    return tuple(m for m in SIGNATURE_METHODS if m in value)


def http_method(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.upper() not in HTTP_METHODS:
        raise InvalidInput(f"method must be one of {', '.join(HTTP_METHODS)}, got {_short(value)!r}", field="method")
    v = value.upper()
    return None if v == "ANY" else v


def path_pattern(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _PATH.fullmatch(value):
        raise InvalidInput(
            f"path must start with / and use URL path characters and {{name}} parameters, got {_short(value)!r}",
            field="path",
        )
    depth = 0
    for c in value:
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth not in (0, 1):
            raise InvalidInput(f"unbalanced {{}} in path {_short(value)!r}", field="path")
    if depth:
        raise InvalidInput(f"unbalanced {{}} in path {_short(value)!r}", field="path")
    segments = value.split("/")[1:]
    if len(segments) > MAX_PATH_SEGMENTS:
        raise InvalidInput(f"path has {len(segments)} segments, at most {MAX_PATH_SEGMENTS}", field="path")
    for segment in segments:
        if ("{" in segment or "}" in segment) and not _PARAM_SEGMENT.fullmatch(segment):
            # A parameter is a whole segment: /items/{id}, not /items/{id}.json or /{a}{b}.
            # (Patterns in older events are still routed, without a regex: authledger.gateway.routing.)
            raise InvalidInput(
                "a path parameter must be a whole segment named with letters, digits or _ "
                f"(like /items/{{id}}), got {_short(segment)!r}", field="path")
    return value


def aware_instant(value: object, field: str) -> datetime:
    """A timezone-aware instant, normalised to UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{field} must be an ISO 8601 instant with a timezone, got {_short(value)!r}", field=field) from None
    if not isinstance(value, datetime):
        raise InvalidInput(f"{field} must be an ISO 8601 instant with a timezone", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} needs a timezone (e.g. 2026-01-31T12:00:00Z), got {value.isoformat()}", field=field)
    try:
        utc = value.astimezone(timezone.utc)
        utc.timestamp()
    except (OverflowError, ValueError):
        # 9999-12-31T23:59:59-14:00 is a valid ISO string whose UTC instant is past year 9999.
        raise InvalidInput(f"{field} is out of range once converted to UTC (years 1 to 9999), "
                           f"got {value.isoformat()}", field=field) from None
    return utc


def epoch_instant(value: float, field: str) -> float:
    """Epoch seconds that name a real instant (finite, within the years 1 to 9999)."""
    try:
        datetime.fromtimestamp(value, timezone.utc)
    except (OverflowError, ValueError, OSError):
        raise InvalidInput(f"{field} is not an instant in the years 1 to 9999, got {str(value)[:40]}", field=field) from None
    return value
