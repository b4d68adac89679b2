"""Grants: an API owner authorizes an app for one API in one stage until an end time; revoke."""

from __future__ import annotations

from datetime import datetime, timezone

from ledger import rules
from ledger.core import Changes, LedgerCore, Receipt, _as_list, breaking_glass, parse_id
from ledger.domain import acting
from ledger.errors import (
    InvalidInput,
    NotPermitted,
)
from ledger.idempotency import Request
from ledger.isotime import iso


class GrantCommands(LedgerCore):
    """Grants by an API's owner to apps of any account, per stage, until an end time; revoke."""

    # -- grants -----------------------------------------------------------------------

    def grant(
        self,
        actor: str,
        app_ids: list[object] | object,
        api_ids: list[object] | object,
        stage: str,
        *,
        until: datetime | str | None = None,
        description: str | None = None,
        source: str = "cli",
        at: datetime | None = None,
        idempotency: Request | None = None,
    ) -> Receipt:
        """Let apps call APIs in a stage, until an end time (or forever).

        Bulk: one API to up to 100 apps, or one app to up to 100 APIs, in one transaction.
        Granting an existing grant again changes its end time; a grant keeps the
        ``description`` it was given with (at most 180 characters; revoke and grant again
        to change it).
        """
        apps = _as_list(app_ids)
        apis = _as_list(api_ids)
        if not apps or not apis:
            raise InvalidInput("grant needs at least one app and one API", field="app_id" if not apps else "api_id")
        if len(apps) > 1 and len(apis) > 1:
            raise InvalidInput("bulk grants are one API to many apps or one app to many APIs", field="app_id")
        if len(apps) > rules.MAX_BULK or len(apis) > rules.MAX_BULK:
            raise InvalidInput(f"at most {rules.MAX_BULK} apps or APIs in one grant", field="app_id")
        app_uids = list(dict.fromkeys(parse_id(a, "app") for a in apps))
        api_uids = list(dict.fromkeys(parse_id(a, "api") for a in apis))
        rules.stage(stage)
        end = None if until is None else rules.aware_instant(until, "until")
        about = rules.grant_description(description)

        def command() -> Changes:
            now = acting.get().at or datetime.now(timezone.utc)
            if end is not None and end <= now:
                raise InvalidInput(f"until must be in the future, got {iso(end)}", field="until")
            api_objs = [self.live_api(a) for a in api_uids]
            app_objs = [self.get_app(a) for a in app_uids]
            for api in api_objs:
                if api.owner != actor:
                    raise NotPermitted(f"only the owner of API {api.id} may grant it", field="actor")
            for app in app_objs:
                app.require_live()
            changed: list[dict[str, str]] = []
            for app in app_objs:
                for api in api_objs:
                    if app.grant(str(api.id), stage, end, about):
                        changed.append({"app_id": str(app.id), "api_id": str(api.id)})
            receipt = Receipt(ids={"stage": stage, "until": iso(end), "granted": changed})
            return Changes(*app_objs, receipt=receipt)

        return self._run(actor, source, at, command, idempotency)

    def revoke(
        self, actor: str, app_id: object, api_id: object, stage: str, *, source: str = "cli", at: datetime | None = None,
        idempotency: Request | None = None
    ) -> Receipt:
        """Take a grant back: by the API's owner, or by the app's owner giving it up."""
        app_uid = parse_id(app_id, "app")
        api_uid = parse_id(api_id, "api")
        rules.stage(stage)

        def command() -> Changes:
            api = self.live_api(api_uid)  # a deleted API's grants ended with it
            app = self.get_app(app_uid)
            if api.owner == actor:
                role = "provider"
            elif app.owner == actor:
                role = "consumer"
            elif breaking_glass():
                role = "admin"  # break-glass: an admin contains a grant (the actor is the admin)
            else:
                raise NotPermitted(
                    f"account {actor} owns neither API {api.id} nor app {app.id}", field="actor"
                )
            app.revoke(str(api.id), stage, role)
            return Changes(app, receipt=Receipt(ids={"app_id": str(app.id), "api_id": str(api.id), "stage": stage, "role": role}))

        return self._run(actor, source, at, command, idempotency)
