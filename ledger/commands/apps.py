"""Apps: create (with a default key pair and an AppCode), modify, disable, enable, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from ledger import rules
from ledger.core import Changes, LedgerCore, Receipt, parse_id
from ledger.domain import App
from ledger.idempotency import Request


class AppCommands(LedgerCore):
    """An app's life: create (with its default key pair and AppCode), modify, disable, enable, delete."""

    # -- apps -------------------------------------------------------------------------

    def create_app(
        self,
        owner: str,
        name: str,
        *,
        description: str = "",
        tags: dict[str, str] | None = None,
        extension: str = "",
        app_key: str | None = None,
        app_secret: str | None = None,
        app_code: str | None = None,
        source: str = "cli",
        at: datetime | None = None,
        idempotency: Request | None = None,
    ) -> Receipt:
        """Create an app with its default key pair and one AppCode (generated unless given)."""
        rules.account(owner, "owner")
        fields = dict(
            owner=owner,
            name=rules.app_name(name),
            description=rules.description(description),
            tags=rules.tags(tags or {}),
            extension=rules.extension(extension),
        )
        if app_key is not None:
            rules.app_key(app_key)
        if app_secret is not None:
            rules.app_secret(app_secret)
        if app_code is not None:
            rules.app_code(app_code)

        def command() -> Changes:
            app = App(**fields)
            receipt = Receipt(ids={"app_id": str(app.id)})
            key_claim = self._new_key_pair(app, app_key, app_secret, receipt)
            code_claim = self._new_app_code(app, app_code, receipt)
            claims = (key_claim, code_claim)
            return Changes(app, *claims, receipt=receipt, claims=claims)

        return self._run(owner, source, at, command, idempotency)

    def modify_app(
        self,
        app_id: object,
        actor: str,
        *,
        name: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        extension: str | None = None,
        source: str = "cli",
        at: datetime | None = None,
        idempotency: Request | None = None,
    ) -> Receipt:
        """Change an app's name, description, tags or extension (only what is given)."""
        new = {
            "name": None if name is None else rules.app_name(name),
            "description": None if description is None else rules.description(description),
            "tags": None if tags is None else rules.tags(tags),
            "extension": None if extension is None else rules.extension(extension),
        }
        uid = parse_id(app_id, "app")

        def command() -> Changes:
            app = self._owned_app(uid, actor)
            app.modify(
                name=new["name"] if new["name"] is not None else app.name,
                description=new["description"] if new["description"] is not None else app.description,
                tags=new["tags"] if new["tags"] is not None else app.tags,
                extension=new["extension"] if new["extension"] is not None else app.extension,
            )
            return Changes(app, receipt=Receipt(ids={"app_id": str(app.id)}))

        return self._run(actor, source, at, command, idempotency)

    def _app_command(self, app_id: object, actor: str, source: str, at: datetime | None,
                     idempotency: Request | None, action: Callable[[App], Any]) -> Receipt:
        uid = parse_id(app_id, "app")

        def command() -> Changes:
            app = self._owned_app(uid, actor)
            action(app)
            return Changes(app, receipt=Receipt(ids={"app_id": str(app.id)}))

        return self._run(actor, source, at, command, idempotency)

    def disable_app(self, app_id: object, actor: str, *, source: str = "cli", at: datetime | None = None,
                    idempotency: Request | None = None) -> Receipt:
        """Disable an app: its calls are refused, its grants are kept."""
        return self._app_command(app_id, actor, source, at, idempotency, App.disable)

    def enable_app(self, app_id: object, actor: str, *, source: str = "cli", at: datetime | None = None,
                   idempotency: Request | None = None) -> Receipt:
        """Enable a disabled app: its grants work again."""
        return self._app_command(app_id, actor, source, at, idempotency, App.enable)

    def delete_app(self, app_id: object, actor: str, *, source: str = "cli", at: datetime | None = None,
                   idempotency: Request | None = None) -> Receipt:
        """Delete an app: its credentials and grants stop working; history stays."""
        return self._app_command(app_id, actor, source, at, idempotency, App.delete)
