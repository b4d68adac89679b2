"""API groups: an account's groups of APIs and the host names they are bound to.

Every account has a **default group** (``ledger.rules.default_group_id``): implicit, no
event, named ``default``, never bound to a host. APIs registered without a group and every
API of a ledger older than groups are in it. Created groups (``ApiGroup``) can be bound to
hosts; a host is claimed ledger-wide (``HostClaim``) while bound, so no two groups hold it.

Routing (authledger.service.authz.Router): a request whose host is bound to a group is routed only
among that group's APIs; any other request among the APIs of *hostless* groups (default
groups and groups bound to no host). The rules kept here so that no account can capture
another's requests:

- an API's method + path may not overlap another API of the same group (409);
- an API in a hostless group may not overlap another account's API in a hostless group
  (409: "bind a host to your group"), and a group may not lose its last host while one of
  its APIs overlaps such an API;
- a host bound to one group cannot be bound to another (409, naming nobody).

Two registrations racing past these checks (they read the log, they do not lock it) can
still leave overlapping APIs of two accounts among hostless groups, as can ledgers written
before groups: ``/authz`` refuses such a request (404 ``Invalid Url``, reason
``ambiguous_route``) rather than choose one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import catalog, rules
from ledger.core import Changes, LedgerCore, Receipt, parse_id
from ledger.domain import ApiGroup, HostClaim
from ledger.errors import ApiGroupNotFound, HostAlreadyBound, HostNotBound, InvalidInput, RouteOverlap
from ledger.idempotency import Request
from ledger.patterns import routes_overlap

_HOSTLESS_OVERLAP = ("method and path overlap an API of another account on hosts bound to no group; "
                     "bind a host to your group and register the API there")


class GroupCommands(LedgerCore):
    """Creating API groups, binding and unbinding their hosts; the route rules of registration."""

    def create_group(self, owner: str, name: str, *, description: str = "", source: str = "cli",
                     at: datetime | None = None, idempotency: Request | None = None) -> Receipt:
        """Create an API group owned by the acting account (bound to no host yet)."""
        rules.account(owner, "owner")
        kwargs = dict(owner=owner, name=rules.group_name(name), description=rules.description(description))

        def command() -> Changes:
            group = ApiGroup(**kwargs)
            return Changes(group, receipt=Receipt(ids={"group_id": str(group.id)}))

        return self._run(owner, source, at, command, idempotency)

    def bind_host(self, actor: str, group_id: object, host: str, *, source: str = "cli",
                  at: datetime | None = None, idempotency: Request | None = None) -> Receipt:
        """Bind a host name to one of the actor's groups; a host bound anywhere else is a conflict."""
        rules.account(actor, "actor")
        gid = parse_id(group_id, "group")
        normal = rules.host(host)

        def command() -> Changes:
            group = self._owned_group(gid, actor, for_hosts=True)
            receipt = Receipt(ids={"group_id": str(gid), "host": normal})
            if normal in group.hosts:
                return Changes(receipt=receipt)  # bound already: nothing changes
            if len(group.hosts) >= rules.MAX_HOSTS:
                raise InvalidInput(f"a group is bound to at most {rules.MAX_HOSTS} hosts", field="host")
            claim = self._get(HostClaim.create_id(normal), HostClaim)
            if claim is None:
                claim = HostClaim(host=normal, group_id=str(gid))
            elif claim.group_id is not None:
                raise HostAlreadyBound(normal)  # whose it is is not said
            else:
                claim.reclaim(str(gid))
            group.bind(normal)
            # A racing claim of the same host fails the save (the claim's next version is the
            # store's unique key): ConcurrentChange, re-run, and then HostAlreadyBound.
            return Changes(group, claim, receipt=receipt)

        return self._run(actor, source, at, command, idempotency)

    def unbind_host(self, actor: str, group_id: object, host: str, *, source: str = "cli",
                    at: datetime | None = None, idempotency: Request | None = None) -> Receipt:
        """Release a host from one of the actor's groups (it can then be bound again, by anyone)."""
        rules.account(actor, "actor")
        gid = parse_id(group_id, "group")
        normal = rules.host(host)

        def command() -> Changes:
            group = self._owned_group(gid, actor, for_hosts=True)
            if normal not in group.hosts:
                raise HostNotBound(normal, gid)
            if len(group.hosts) == 1:
                # The group's APIs are routed among the hostless groups' from now on.
                self._check_hostless(actor, str(gid))
            claim = self._get(HostClaim.create_id(normal), HostClaim)
            group.unbind(normal)
            aggregates: tuple[Any, ...] = (group,)
            if claim is not None and claim.group_id == str(gid):
                claim.release()
                aggregates = (group, claim)
            return Changes(*aggregates, receipt=Receipt(ids={"group_id": str(gid), "host": normal}))

        return self._run(actor, source, at, command, idempotency)

    # -- lookups and rules --------------------------------------------------------------

    def _owned_group(self, group_id: object, actor: str, *, for_hosts: bool = False) -> ApiGroup | None:
        """The actor's group (None: the actor's default group); another account's is not found."""
        gid = parse_id(group_id, "group")
        if str(gid) == rules.default_group_id(actor):
            if for_hosts:
                raise InvalidInput("the default group is bound to no host: create a group "
                                   "(authledger group create) and bind hosts to it", field="group_id")
            return None
        group = self._get(gid, ApiGroup)
        if group is None or group.owner != actor:
            raise ApiGroupNotFound(gid)
        return group

    def group_view(self, group_id: object, actor: str, *, sees_all: bool = False) -> dict[str, Any]:
        """One of the actor's groups as shown by ``group show`` / ``GET /v1/groups/{id}``;
        ``sees_all`` (auditors, admins): any account's created group."""
        if sees_all:
            group = self._get(parse_id(group_id, "group"), ApiGroup)
            if group is not None:
                return _view(group, group.owner)
        return _view(self._owned_group(group_id, actor), actor)

    def group_views(self, actor: str) -> list[dict[str, Any]]:
        """The actor's default group, then its created groups in creation order."""
        return [_view(None, actor)] + [_view(g, actor) for g in catalog.groups(self, actor)]  # type: ignore[arg-type]

    def _check_route(self, owner: str, group_id: str, method: str | None, pattern: str | None,
                     exclude: str | None = None) -> None:
        """Refuse an API route that overlaps one of its group, or (hostless) another account's."""
        if not pattern:
            return
        hosted = catalog.hosted_groups(self)
        hostless = group_id not in hosted
        for api_id, other_owner, other_group, other_method, other_pattern in catalog.routes(self):
            if api_id == exclude or not routes_overlap(method, pattern, other_method, other_pattern):
                continue
            if other_group == group_id:
                raise RouteOverlap(f"method and path overlap API {api_id} of the same group "
                                   f"({other_method or 'ANY'} {other_pattern})")
            if hostless and other_owner != owner and other_group not in hosted:
                raise RouteOverlap(_HOSTLESS_OVERLAP)

    def _check_hostless(self, owner: str, group_id: str) -> None:
        """Refuse to make a group hostless while one of its APIs overlaps another account's hostless API."""
        hosted = catalog.hosted_groups(self) - {group_id}
        routes = catalog.routes(self)
        mine = [r for r in routes if r[2] == group_id]
        others = [r for r in routes if r[1] != owner and r[2] not in hosted and r[2] != group_id]
        for _, _, _, m, p in mine:
            for _, _, _, om, op in others:
                if routes_overlap(m, p, om, op):
                    raise RouteOverlap("the group's last host cannot be unbound: " + _HOSTLESS_OVERLAP.replace(
                        "method and path overlap", "one of its APIs overlaps"))


def _view(group: ApiGroup | None, actor: str) -> dict[str, Any]:
    if group is None:
        return {"group_id": rules.default_group_id(actor), "name": rules.DEFAULT_GROUP_NAME, "owner": actor,
                "description": "", "hosts": [], "default": True, "created_at": None}
    from ledger.views import iso

    return {"group_id": str(group.id), "name": group.name, "owner": group.owner,
            "description": group.description, "hosts": sorted(group.hosts), "default": False,
            "created_at": iso(group.created_on)}
