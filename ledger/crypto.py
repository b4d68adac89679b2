"""Field-level secrecy for AppSecrets and AppCodes.

Secrets are sealed with AES-256-GCM before they enter an event, bound (as associated
data) to their purpose and app, so a ciphertext copied to another app does not open.
AppCodes are also identified by a keyed hash (HMAC-SHA256), so lookups and uniqueness
work without the plaintext. The master key comes from ``AUTHLEDGER_SECRET_KEY``
(base64 of 32 bytes) or from a key file created beside the database (mode 0600).
Whoever lacks the key can still replay and audit the whole history: only these
fields are opaque.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
import string

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.errors import InvalidInput, LedgerError

KEY_ENV = "AUTHLEDGER_SECRET_KEY"
_VERSION = b"\x01"
_ALNUM = string.ascii_letters + string.digits


class SecretKeyError(LedgerError):
    """The secret key is missing, malformed or does not open a sealed value."""

    exit_code = 2
    http_status = 500
    code = "secret_key"


def _derive(master: bytes, label: bytes) -> bytes:
    return hmac.new(master, b"authledger/" + label, hashlib.sha256).digest()


class SecretBox:
    """Seals and opens secrets; hashes AppCodes. Holds the key, never prints it."""

    __slots__ = ("_aead", "_code_key", "_cursor_key")

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise SecretKeyError("the secret key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(_derive(master_key, b"seal"))
        self._code_key = _derive(master_key, b"appcode-hash")
        self._cursor_key = _derive(master_key, b"list-cursor")

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, plaintext: str, context: str) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        if len(sealed) < 29 or sealed[:1] != _VERSION:
            raise SecretKeyError("sealed value is malformed")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], context.encode()).decode()
        except Exception:
            raise SecretKeyError("sealed value does not open with this key (wrong key?)") from None

    def code_hash(self, code: str) -> str:
        """The keyed hash that identifies an AppCode (hex)."""
        return hmac.new(self._code_key, code.encode(), hashlib.sha256).hexdigest()

    def cursor_key(self) -> bytes:
        """The key that seals the admin API's list cursors (authledger.service.paging): derived,
        so every server on one ledger accepts the others' cursors; it protects no secret."""
        return self._cursor_key


class NoKeyBox(SecretBox):
    """The box of a ledger opened for reading without its secret key (an auditor's copy):
    public views need none; anything that would seal, open or hash a secret says so."""

    __slots__ = ()

    def __init__(self) -> None:  # noqa: D107 - no key, deliberately
        pass

    def __repr__(self) -> str:
        return "NoKeyBox()"

    def _refuse(self) -> SecretKeyError:
        return SecretKeyError(f"no secret key: this needs the ledger's key ({KEY_ENV}, --secret-key-file "
                              "or the key file beside the database)")

    def seal(self, plaintext: str, context: str) -> bytes:
        raise self._refuse()

    def open(self, sealed: bytes, context: str) -> str:
        raise self._refuse()

    def code_hash(self, code: str) -> str:
        raise self._refuse()

    def cursor_key(self) -> bytes:
        raise self._refuse()


def keypair_context(app_id: str) -> str:
    return "keypair:" + app_id


def appcode_context(app_id: str) -> str:
    return "appcode:" + app_id


def _random_alnum(length: int) -> str:
    """``length`` uniformly random characters of [A-Za-z0-9]: one draw below 62**length."""
    n = secrets.randbelow(62**length)
    out = []
    for _ in range(length):
        n, digit = divmod(n, 62)
        out.append(_ALNUM[digit])
    return "".join(out)


def generate_app_key() -> str:
    """A 24-character AppKey (about 143 bits; AppKeys are identifiers, not secrets)."""
    return _random_alnum(24)


def generate_app_secret() -> str:
    """A 43-character AppSecret carrying 256 bits of randomness."""
    return secrets.token_urlsafe(32)


def generate_app_code() -> str:
    """A 32-character alphanumeric AppCode (about 190 bits)."""
    return _random_alnum(32)


def code_hint(code: str) -> str:
    """What is shown of an AppCode after creation: its last four characters."""
    return code[-4:]


def mask_code(hint: str) -> str:
    return "****" + hint


def decode_key(text: str, where: str = KEY_ENV) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError(f"{where} must be base64 of 32 random bytes") from None
    if len(key) != 32:
        raise SecretKeyError(f"{where} must be base64 of 32 random bytes (got {len(key)} bytes)")
    return key


def key_file_for(db_path: str) -> str:
    return db_path + ".key"


def key_path(db_path: str | None, key_file: str | None = None) -> str | None:
    """The key file in use: the explicit one, else the one beside the database (None: neither)."""
    return key_file or (key_file_for(db_path) if db_path else None)


def exposed_key_file(db_path: str | None, key_file: str | None = None) -> str | None:
    """A warning when the key file in use can be read or written by others than its owner
    (anyone who reads it can open every sealed AppSecret and AppCode); else None."""
    if os.environ.get(KEY_ENV):
        return None
    path = key_path(db_path, key_file)
    try:
        mode = os.stat(path).st_mode if path else 0
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return (f"secret key file {path} is accessible to other users (mode {mode & 0o777:03o}): "
            f"anyone who reads it opens every sealed secret; chmod 600 {path}")


def load_key(db_path: str | None, *, key_file: str | None = None, create: bool = True) -> bytes:
    """The master key: from the environment, an explicit key file, or the database's key file."""
    env = os.environ.get(KEY_ENV)
    if env:
        return decode_key(env)
    path = key_path(db_path, key_file)
    if path is None:
        raise SecretKeyError(f"no secret key: set {KEY_ENV} (base64 of 32 random bytes)")
    try:
        with open(path, "rb") as f:
            return decode_key(f.read().decode("ascii", "replace"), f"key file {path}")
    except FileNotFoundError:
        if not create:
            raise SecretKeyError(f"no secret key: {path} does not exist and {KEY_ENV} is unset") from None
    key = os.urandom(32)
    # Written whole to a private temporary file, then linked into place: another process never
    # reads a half-written key, and a write that fails (a full disk) leaves no empty key file.
    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(base64.b64encode(key) + b"\n")
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    except FileExistsError:
        # Another process created it first: use theirs.
        return load_key(db_path, key_file=key_file, create=False)
    except OSError as e:
        raise InvalidInput(f"cannot create key file {path}: {e.strerror}; nothing was created") from None
    return key
