"""The verifier wired to the real auth index: a client-signed request end to end, then the
attack checklist items that depend on ledger state, each with its exact status and
X-Ca-Error-Message (docs/digest-auth.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from aliyun_api_gateway import ApiGatewayClient, ApiGatewayRequest

from authledger.gateway.verifier import Verdict, Verifier
from projections.auth_index import AuthIndex
from projections.decision import Reason
from projections.follow import Follower
from tests.projections.conftest import World, at

NOW = at(30)  # the gateway's clock: half-way through the world's RELEASE grant


@dataclass
class Signed:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes | None


def signed(app_key: str, secret: str, *, nonce: str = "nonce-1", stage: str | None = None,
           method: str = "GET", when: float | None = None, **fields: object) -> Signed:
    """A request signed by aliyun-api-gateway-python at the gateway's clock."""
    client = ApiGatewayClient("http://gw.example.com", app_key, secret)
    headers = {"X-Ca-Stage": stage} if stage else {}
    request = ApiGatewayRequest(method=method, path="/v1/items", headers=headers, **fields)  # type: ignore[arg-type]
    stamp = int((NOW.timestamp() if when is None else when) * 1000)
    s = client.sign(request, timestamp=stamp, nonce=nonce)
    url = urlsplit(s.url)
    return Signed(s.method, url.path, url.query, list(s.headers.items()), s.body)


def verify(index: AuthIndex, r: Signed, api_id: str, *, when: float | None = None) -> Verdict:
    clock = NOW.timestamp() if when is None else when
    return Verifier(index, clock=lambda: clock).verify(r.method, r.path, r.query, r.headers, r.body, api_id)


def fresh(world: World) -> AuthIndex:
    return AuthIndex.build(world.ledger)


def test_client_signed_requests_are_accepted_end_to_end(world: World) -> None:
    index = AuthIndex(world.ledger.box)
    Follower(world.ledger, index).catch_up()
    # Check a GET with query parameters signed by the real client library.
    v = verify(index, signed(world.app_key, world.app_secret, query={"b": "2", "a": "1", "c": ""}), world.api_id)
    assert (v.accepted, v.status, v.app_id, v.app_key, v.stage) == (True, 200, world.app_id, world.app_key, "RELEASE")
    assert v.system_parameters()["CaAppExtInfo"] == '{"tenant":"shop"}'
    # Check a form POST and a JSON POST (Content-MD5) too.
    form = signed(world.app_key, world.app_secret, nonce="n2", method="POST", form={"x": "1", "y": "z"})
    assert verify(index, form, world.api_id).accepted
    body = signed(world.app_key, world.app_secret, nonce="n3", method="POST", json_body={"k": [1, 2]})
    assert verify(index, body, world.api_id).accepted
    # Check an AppCode request on the API that allows it by header.
    code = Signed("GET", "/v1/items", "", [("Authorization", f"APPCODE {world.app_code}")], None)
    assert verify(index, code, world.api_id).accepted
    # Check no secret ever appears in a verdict, even a failing one.
    bad = signed(world.app_key, world.app_secret, nonce="n4", query={"a": "1"})
    bad.query = "a=2"
    failed = verify(index, bad, world.api_id)
    assert failed.status == 400 and world.app_secret not in repr(failed)


def test_deleted_key_pair_is_invalid_app_key(world: World) -> None:
    added = world.ledger.add_key_pair(world.app_id, "bob", at=at(3))
    key, secret = added.ids["app_key"], added.revealed["app_secret"]
    assert verify(fresh(world), signed(key, secret), world.api_id).accepted
    world.ledger.delete_key_pair(world.app_id, key, "bob", at=at(4))
    v = verify(fresh(world), signed(key, secret), world.api_id)
    assert (v.accepted, v.status, v.error_message) == (False, 400, "Invalid AppKey")


def test_old_secret_after_reset_is_invalid_signature(world: World) -> None:
    new_secret = world.ledger.reset_key_pair(world.app_key, "bob", at=at(3)).revealed["app_secret"]
    index = fresh(world)
    v = verify(index, signed(world.app_key, world.app_secret), world.api_id)
    assert (v.accepted, v.status) == (False, 400)
    assert v.error_message is not None and v.error_message.startswith("Invalid Signature, Server StringToSign:GET#")
    assert verify(index, signed(world.app_key, new_secret, nonce="n2"), world.api_id).accepted


def test_disabled_app_is_app_disabled(world: World) -> None:
    world.ledger.disable_app(world.app_id, "bob", at=at(3))
    v = verify(fresh(world), signed(world.app_key, world.app_secret), world.api_id)
    assert (v.accepted, v.status, v.error_message, v.reason) == (False, 403, "App Disabled", Reason.APP_DISABLED)


def test_deleted_app_is_invalid_app_key(world: World) -> None:
    world.ledger.delete_app(world.app_id, "bob", at=at(3))
    v = verify(fresh(world), signed(world.app_key, world.app_secret), world.api_id)
    assert (v.accepted, v.status, v.error_message) == (False, 400, "Invalid AppKey")


def test_revoked_grant_is_unauthorized(world: World) -> None:
    world.ledger.revoke("acme", world.app_id, world.api_id, "RELEASE", at=at(3))
    v = verify(fresh(world), signed(world.app_key, world.app_secret), world.api_id)
    assert (v.accepted, v.status, v.error_message, v.reason) == (False, 403, "Unauthorized", Reason.NOT_AUTHORIZED)


def test_expired_grant_is_authorization_expired_with_no_event(world: World) -> None:
    later = (at(60) + timedelta(seconds=1)).timestamp()  # the grant ended at T0+60m
    v = verify(fresh(world), signed(world.app_key, world.app_secret, when=later), world.api_id, when=later)
    assert (v.accepted, v.status, v.error_message, v.reason) == (
        False, 403, "Authorization Expired", Reason.AUTHORIZATION_EXPIRED)


def test_grant_in_another_stage_is_unauthorized(world: World) -> None:
    v = verify(fresh(world), signed(world.app_key, world.app_secret, stage="TEST"), world.api_id)
    assert (v.accepted, v.status, v.error_message, v.reason) == (
        False, 403, "Unauthorized", Reason.STAGE_NOT_AUTHORIZED)


def test_app_code_on_an_api_that_disables_it_is_invalid_app_code(world: World) -> None:
    r = Signed("GET", "/v1/items", "", [("Authorization", f"APPCODE {world.app_code}")], None)
    v = verify(fresh(world), r, world.no_code_api_id)
    assert (v.accepted, v.status, v.error_message, v.reason) == (
        False, 401, "Invalid AppCode", Reason.APPCODE_NOT_ALLOWED)
    # In the query it is an ordinary parameter there: the request is an unsigned one.
    q = Signed("GET", "/v1/items", f"AppCode={world.app_code}", [], None)
    assert verify(fresh(world), q, world.no_code_api_id).error_message == "Invalid AppKey"


def test_app_code_of_a_deleted_app_is_invalid_app_code(world: World) -> None:
    world.ledger.delete_app(world.app_id, "bob", at=at(3))
    r = Signed("GET", "/v1/items", "", [("Authorization", f"APPCODE {world.app_code}")], None)
    v = verify(fresh(world), r, world.api_id)
    assert (v.accepted, v.status, v.error_message) == (False, 401, "Invalid AppCode")
