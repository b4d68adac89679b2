"""Registering APIs with their security settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import rules
from ledger.core import LedgerCore, Receipt
from ledger.domain import Api
from ledger.errors import (
    InvalidInput,
)


class ApiCommands(LedgerCore):
    """Registering an API: the owner is the acting account; settings are checked by ledger.rules."""

    # -- APIs -------------------------------------------------------------------------

    def register_api(
        self,
        owner: str,
        name: str,
        *,
        group: str = "",
        auth_type: str = "APP",
        appcode_mode: str = "DISABLE",
        signature_methods: Any = ("HmacSHA256",),
        nonce_required: bool = True,
        http_method: str | None = None,
        path_pattern: str | None = None,
        source: str = "cli",
        at: datetime | None = None,
    ) -> Receipt:
        """Register an API with its security settings; the owner is the acting account."""
        rules.account(owner, "owner")
        kwargs = dict(
            owner=owner,
            name=rules.api_name(name),
            group=rules.group(group),
            auth_type=rules.auth_type(auth_type),
            appcode_mode=rules.appcode_mode(appcode_mode),
            signature_methods=rules.signature_methods(signature_methods),
            nonce_required=bool(nonce_required),
            http_method=rules.http_method(http_method),
            path_pattern=rules.path_pattern(path_pattern),
        )
        if not isinstance(nonce_required, bool):
            raise InvalidInput("nonce_required must be true or false", field="nonce_required")

        def command() -> Receipt:
            api = Api(**kwargs)
            return self._commit(api, receipt=Receipt(ids={"api_id": str(api.id)}))

        return self._run(owner, source, at, command)
