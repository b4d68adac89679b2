"""Key pairs and AppCodes: add, delete, reset (secrets shown once, stored sealed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import crypto, rules
from ledger.core import Changes, LedgerCore, Receipt, parse_id
from ledger.errors import AppCodeNotFound, KeyPairNotFound
from ledger.idempotency import Request


class CredentialCommands(LedgerCore):
    """An app's key pairs and AppCodes (owner only); AppKeys and AppCodes are unique via claim aggregates."""

    # -- key pairs --------------------------------------------------------------------

    def add_key_pair(
        self,
        app_id: object,
        actor: str,
        *,
        app_key: str | None = None,
        app_secret: str | None = None,
        source: str = "cli",
        at: datetime | None = None,
        idempotency: Request | None = None,
    ) -> Receipt:
        """Add a key pair (generated, or custom) to an app."""
        if app_key is not None:
            rules.app_key(app_key)
        if app_secret is not None:
            rules.app_secret(app_secret)
        uid = parse_id(app_id, "app")

        def command() -> Changes:
            app = self._owned_app(uid, actor)
            app.require_live()
            receipt = Receipt(ids={"app_id": str(app.id)})
            claim = self._new_key_pair(app, app_key, app_secret, receipt)
            return Changes(app, claim, receipt=receipt, claims=(claim,))

        return self._run(actor, source, at, command, idempotency)

    def delete_key_pair(
        self, app_id: object, app_key: str, actor: str, *, source: str = "cli", at: datetime | None = None,
        idempotency: Request | None = None
    ) -> Receipt:
        """Delete an added key pair (the default pair cannot be deleted)."""
        rules.app_key(app_key)
        uid = parse_id(app_id, "app")

        def command() -> Changes:
            app = self._owned_app(uid, actor)
            app.delete_key_pair(app_key)
            return Changes(app, receipt=Receipt(ids={"app_id": str(app.id), "app_key": app_key}))

        return self._run(actor, source, at, command, idempotency)

    def reset_key_pair(
        self,
        app_key: str,
        actor: str,
        *,
        new_app_key: str | None = None,
        new_app_secret: str | None = None,
        source: str = "cli",
        at: datetime | None = None,
        idempotency: Request | None = None,
    ) -> Receipt:
        """Give a key pair a new secret (and optionally a new AppKey); the old secret stops at once."""
        rules.app_key(app_key)
        if new_app_key is not None:
            rules.app_key(new_app_key, "new_app_key")
        if new_app_secret is not None:
            rules.app_secret(new_app_secret, "new_app_secret")

        def command() -> Changes:
            app = self._owned_app_or_unknown(self.app_id_for_key(app_key), actor, KeyPairNotFound(app_key))
            app.require_live()
            app.key_pair(app_key)
            key = new_app_key if new_app_key is not None and new_app_key != app_key else app_key
            claims: tuple[Any, ...] = ()
            if key != app_key:
                claims = (self._claim_key(key, app),)
            secret = new_app_secret if new_app_secret is not None else crypto.generate_app_secret()
            app.reset_key_pair(app_key, key, self.box.seal(secret, crypto.keypair_context(str(app.id))))
            receipt = Receipt(ids={"app_id": str(app.id), "app_key": key}, revealed={"app_secret": secret})
            return Changes(app, *claims, receipt=receipt, claims=claims)

        return self._run(actor, source, at, command, idempotency)

    # -- AppCodes ---------------------------------------------------------------------

    def add_app_code(
        self, app_id: object, actor: str, *, code: str | None = None, source: str = "cli", at: datetime | None = None,
        idempotency: Request | None = None
    ) -> Receipt:
        """Add an AppCode (generated, or custom) to an app."""
        if code is not None:
            rules.app_code(code)
        uid = parse_id(app_id, "app")

        def command() -> Changes:
            app = self._owned_app(uid, actor)
            app.require_live()
            receipt = Receipt(ids={"app_id": str(app.id)})
            claim = self._new_app_code(app, code, receipt)
            receipt.ids["app_code_hint"] = crypto.mask_code(crypto.code_hint(receipt.revealed["app_code"]))
            return Changes(app, claim, receipt=receipt, claims=(claim,))

        return self._run(actor, source, at, command, idempotency)

    def delete_app_code(
        self, app_id: object, code: str, actor: str, *, source: str = "cli", at: datetime | None = None,
        idempotency: Request | None = None
    ) -> Receipt:
        """Delete one of an app's AppCodes."""
        rules.app_code(code)
        uid = parse_id(app_id, "app")

        def command() -> Changes:
            app = self._owned_app(uid, actor)
            app.delete_app_code(self.box.code_hash(code))
            return Changes(app, receipt=Receipt(ids={"app_id": str(app.id)}))

        return self._run(actor, source, at, command, idempotency)

    def reset_app_code(
        self, code: str, actor: str, *, new_code: str | None = None, source: str = "cli", at: datetime | None = None,
        idempotency: Request | None = None
    ) -> Receipt:
        """Replace an AppCode with a new one; the old one stops at once."""
        rules.app_code(code)
        if new_code is not None:
            rules.app_code(new_code, "new_code")

        def command() -> Changes:
            app = self._owned_app_or_unknown(self.app_id_for_code(code), actor, AppCodeNotFound())
            app.require_live()
            old_hash = self.box.code_hash(code)
            app.app_code(old_hash)
            fresh = new_code if new_code is not None else crypto.generate_app_code()
            claim = self._claim_code(fresh, app)
            app.reset_app_code(
                old_hash, claim.code_hash, self.box.seal(fresh, crypto.appcode_context(str(app.id))), crypto.code_hint(fresh)
            )
            receipt = Receipt(
                ids={"app_id": str(app.id), "app_code_hint": crypto.mask_code(crypto.code_hint(fresh))},
                revealed={"app_code": fresh},
            )
            return Changes(app, claim, receipt=receipt, claims=(claim,))

        return self._run(actor, source, at, command, idempotency)
