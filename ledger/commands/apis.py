"""Registering APIs with their security settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import rules
from ledger.commands.groups import GroupCommands
from ledger.core import Receipt, parse_id
from ledger.domain import Api
from ledger.errors import (
    InvalidInput,
)


class ApiCommands(GroupCommands):
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
        group_id: object = None,
        source: str = "cli",
        at: datetime | None = None,
    ) -> Receipt:
        """Register an API with its security settings; the owner is the acting account.

        ``group_id``: one of the owner's API groups (None: the owner's default group);
        another account's group is not found. Its method + path must not overlap another
        API of the group, nor, in a group bound to no host, another account's API in a
        hostless group (ledger.commands.groups).
        """
        rules.account(owner, "owner")
        gid = None if group_id is None or group_id == "" else str(parse_id(group_id, "group"))
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
            group = self._owned_group(gid, owner) if gid is not None else None
            # The default group is recorded as no group_id (as events before groups have it).
            group_id_ = str(group.id) if group is not None else None
            self._check_route(owner, group_id_ or rules.default_group_id(owner),
                              kwargs["http_method"], kwargs["path_pattern"])
            api = Api(**kwargs, group_id=group_id_)
            return self._commit(api, receipt=Receipt(ids={"api_id": str(api.id), "group_id":
                                                          group_id_ or rules.default_group_id(owner)}))

        return self._run(owner, source, at, command)
