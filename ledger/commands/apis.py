"""APIs with their security settings: register, modify, delete (the owner only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import rules
from ledger.commands.groups import GroupCommands
from ledger.core import Changes, Receipt, parse_id
from ledger.domain import Api
from ledger.errors import (
    InvalidInput,
)
from ledger.idempotency import Request

_UNSET: Any = object()


class ApiCommands(GroupCommands):
    """An API's life: register (the acting account owns it), modify, delete; settings are checked by ledger.rules."""

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
        idempotency: Request | None = None,
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

        def command() -> Changes:
            group = self._owned_group(gid, owner) if gid is not None else None
            # The default group is recorded as no group_id (as events before groups have it).
            group_id_ = str(group.id) if group is not None else None
            self._check_route(owner, group_id_ or rules.default_group_id(owner),
                              kwargs["http_method"], kwargs["path_pattern"])
            api = Api(**kwargs, group_id=group_id_)
            return Changes(api, receipt=Receipt(ids={"api_id": str(api.id), "group_id":
                                                          group_id_ or rules.default_group_id(owner)}))

        return self._run(owner, source, at, command, idempotency)

    def modify_api(
        self,
        api_id: object,
        actor: str,
        *,
        name: str | None = None,
        group: str | None = None,
        auth_type: str | None = None,
        appcode_mode: str | None = None,
        signature_methods: Any = None,
        nonce_required: bool | None = None,
        http_method: Any = _UNSET,
        path_pattern: Any = _UNSET,
        source: str = "cli",
        at: datetime | None = None,
        idempotency: Request | None = None,
    ) -> Receipt:
        """Change an API's settings (only what is given; ``http_method``/``path_pattern`` None
        clears them: any method, no path). The change takes effect at the event's instant:
        the gateway routes and verifies with the new settings from then on, audits at an
        earlier instant still answer from the old ones."""
        new: dict[str, Any] = {}
        if name is not None:
            new["name"] = rules.api_name(name)
        if group is not None:
            new["group"] = rules.group(group)
        if auth_type is not None:
            new["auth_type"] = rules.auth_type(auth_type)
        if appcode_mode is not None:
            new["appcode_mode"] = rules.appcode_mode(appcode_mode)
        if signature_methods is not None:
            new["signature_methods"] = rules.signature_methods(signature_methods)
        if nonce_required is not None:
            if not isinstance(nonce_required, bool):
                raise InvalidInput("nonce_required must be true or false", field="nonce_required")
            new["nonce_required"] = nonce_required
        if http_method is not _UNSET:
            new["http_method"] = rules.http_method(http_method)
        if path_pattern is not _UNSET:
            new["path_pattern"] = rules.path_pattern(path_pattern)
        uid = parse_id(api_id, "api")

        def command() -> Changes:
            api = self._owned_api(uid, actor)
            if "http_method" in new or "path_pattern" in new:  # the new route must not overlap either
                self._check_route(api.owner, api.effective_group_id, new.get("http_method", api.http_method),
                                  new.get("path_pattern", api.path_pattern), exclude=str(api.id))
            api.modify(**new)
            return Changes(api, receipt=Receipt(ids={"api_id": str(api.id)}))

        return self._run(actor, source, at, command, idempotency)

    def delete_api(self, api_id: object, actor: str, *, source: str = "cli", at: datetime | None = None,
                   idempotency: Request | None = None) -> Receipt:
        """Delete an API: every grant on it ends at this instant (gateway, audits, reports);
        it cannot be granted or modified again; its history stays."""
        uid = parse_id(api_id, "api")

        def command() -> Changes:
            api = self._owned_api(uid, actor)
            api.delete()
            return Changes(api, receipt=Receipt(ids={"api_id": str(api.id)}))

        return self._run(actor, source, at, command, idempotency)
