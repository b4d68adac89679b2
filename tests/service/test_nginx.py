"""A real gateway in front: nginx auth_request → `authledger serve` → an echo backend.

Requests signed by aliyun-api-gateway-python reach the backend with CaAppExtInfo; unsigned,
tampered, replayed, unauthorized and disabled-app requests get the table's status and
X-Ca-Error-Message from nginx and never reach the backend.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aliyun_api_gateway import ApiGatewayClient, ApiGatewayRequest

from tests.service import harness

SECRET = "GatewaySecret-0123456789abcdef"
KEY = "gateway-key-001"
EXT = '{"tenant":"shop","tier":"gold"}'

pytestmark = pytest.mark.skipif(not os.path.exists(harness.NGINX), reason="nginx is installed by scripts/test")


@dataclass
class Gateway:
    port: int
    admin_port: int
    token: str
    backend: harness.EchoBackend
    ids: dict[str, str]

    def admin(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        data = None if body is None else json.dumps(body)
        conn.request(method, path, body=data, headers={"Authorization": f"Bearer {self.token}",
                                                       "Content-Type": "application/json"})
        r = conn.getresponse()
        out = json.loads(r.read() or b"{}")
        conn.close()
        assert r.status < 300, out
        return out

    def client(self, key: str = KEY, secret: str = SECRET) -> ApiGatewayClient:
        return ApiGatewayClient(f"http://127.0.0.1:{self.port}", key, secret)

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        u = urlsplit(url)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request(method, u.path + ("?" + u.query if u.query else ""), body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp: Path = tmp_path_factory.mktemp("gateway")
    db = str(tmp / "ledger.db")
    token = harness.cli(db, "token", "create", "--account", "acme")["token"]
    with harness.EchoBackend() as backend, harness.serve(db) as admin_port, \
            harness.nginx(tmp / "nginx", admin_port, backend.port) as port:
        gw = Gateway(port, admin_port, token, backend, {})
        gw.ids["items"] = gw.admin("POST", "/v1/apis", {"name": "items", "method": "GET", "path": "/v1/items/{id}"})["api_id"]
        gw.ids["orders"] = gw.admin("POST", "/v1/apis", {"name": "orders", "path": "/v1/orders"})["api_id"]
        gw.ids["app"] = gw.admin("POST", "/v1/apps", {"name": "shopApp", "app_key": KEY, "app_secret": SECRET,
                                                      "extension": EXT})["app_id"]
        gw.ids["off"] = gw.admin("POST", "/v1/apps", {"name": "offApp", "app_key": "disabled-key-1",
                                                      "app_secret": SECRET})["app_id"]
        for app in ("app", "off"):
            gw.admin("POST", "/v1/grants", {"app_id": gw.ids[app], "api_id": gw.ids["items"], "stage": "RELEASE"})
        gw.admin("POST", f"/v1/apps/{gw.ids['off']}/disable")
        yield gw


def _refused(gw: Gateway, status: int, message: str, method: str, url: str, headers: dict[str, str]) -> None:
    hits = gw.backend.hits
    got, h, _ = gw.send(method, url, headers)
    assert (got, h.get("x-ca-error-message", "")[: len(message)]) == (status, message)
    assert gw.backend.hits == hits, "a refused request reached the backend"


def test_signed_request_reaches_the_backend_with_caappextinfo(gateway: Gateway) -> None:
    response = gateway.client().request("GET", "/v1/items/42", query={"color": "red", "size": "L"})
    assert response.status == 200, response.get_header("X-Ca-Error-Message")
    echoed = {k.lower(): v for k, v in response.json()["headers"]}
    assert echoed["caappextinfo"] == EXT
    assert echoed["x-ca-app-id"] == gateway.ids["app"]
    assert (echoed["x-ca-key"], echoed["x-ca-stage"]) == (KEY, "RELEASE")


def test_client_supplied_backend_headers_are_replaced(gateway: Gateway) -> None:
    response = gateway.client().request("GET", "/v1/items/1", headers={"CaAppExtInfo": "forged", "X-Ca-App-Id": "forged"})
    echoed = {k.lower(): v for k, v in response.json()["headers"]}
    assert echoed["caappextinfo"] == EXT and echoed["x-ca-app-id"] == gateway.ids["app"]


def test_unsigned_request_is_refused_400_invalid_appkey(gateway: Gateway) -> None:
    _refused(gateway, 400, "Invalid AppKey", "GET", "/v1/items/1", {})


def test_request_without_signature_is_refused_404(gateway: Gateway) -> None:
    signed = gateway.client().sign(ApiGatewayRequest(method="GET", path="/v1/items/1"))
    headers = {k: v for k, v in signed.headers.items() if k.lower() != "x-ca-signature"}
    _refused(gateway, 404, "Empty Signature", "GET", signed.url, headers)


def test_tampered_request_is_refused_with_the_servers_string_to_sign(gateway: Gateway) -> None:
    signed = gateway.client().sign(ApiGatewayRequest(method="GET", path="/v1/items/1", query={"qty": "1"}))
    _refused(gateway, 400, "Invalid Signature, Server StringToSign:", "GET",
             signed.url.replace("qty=1", "qty=100"), dict(signed.headers))


def test_replayed_request_is_refused_nonce_used(gateway: Gateway) -> None:
    signed = gateway.client().sign(ApiGatewayRequest(method="GET", path="/v1/items/9"))
    status, _, _ = gateway.send("GET", signed.url, dict(signed.headers))
    assert status == 200
    _refused(gateway, 400, "Nonce Used", "GET", signed.url, dict(signed.headers))


def test_unauthorized_api_is_refused_403(gateway: Gateway) -> None:
    signed = gateway.client().sign(ApiGatewayRequest(method="GET", path="/v1/orders"))
    _refused(gateway, 403, "Unauthorized", "GET", signed.url, dict(signed.headers))


def test_disabled_app_is_refused_403(gateway: Gateway) -> None:
    signed = gateway.client("disabled-key-1").sign(ApiGatewayRequest(method="GET", path="/v1/items/1"))
    _refused(gateway, 403, "App Disabled", "GET", signed.url, dict(signed.headers))


def test_unknown_path_is_refused_404_invalid_url(gateway: Gateway) -> None:
    signed = gateway.client().sign(ApiGatewayRequest(method="GET", path="/v9/nothing"))
    _refused(gateway, 404, "Invalid Url", "GET", signed.url, dict(signed.headers))


def test_revoking_over_the_admin_api_stops_calls_through_nginx(gateway: Gateway) -> None:
    api = gateway.admin("POST", "/v1/apis", {"name": "stock", "path": "/v1/stock"})["api_id"]
    gateway.admin("POST", "/v1/grants", {"app_id": gateway.ids["app"], "api_id": api, "stage": "RELEASE"})
    assert gateway.client().request("GET", "/v1/stock").status == 200
    gateway.admin("POST", "/v1/revoke", {"app_id": gateway.ids["app"], "api_id": api, "stage": "RELEASE"})
    signed = gateway.client().sign(ApiGatewayRequest(method="GET", path="/v1/stock"))
    _refused(gateway, 403, "Unauthorized", "GET", signed.url, dict(signed.headers))


def _granted_post_api(gw: Gateway, name: str, path: str) -> str:
    api = gw.admin("POST", "/v1/apis", {"name": name, "method": "POST", "path": path})["api_id"]
    gw.admin("POST", "/v1/grants", {"app_id": gw.ids["app"], "api_id": api, "stage": "RELEASE"})
    return str(api)


def test_signed_json_body_passes_with_content_md5_left_for_the_backend(gateway: Gateway) -> None:
    # nginx never sends the body to /authz: the signature covers Content-MD5, and the
    # backend compares it with the body it receives (docs/gateway.md).
    _granted_post_api(gateway, "createJson", "/v1/boots")
    signed = gateway.client().sign(ApiGatewayRequest(method="POST", path="/v1/boots", json_body={"name": "boots"}))
    hits = gateway.backend.hits
    status, headers, data = gateway.send("POST", signed.url, dict(signed.headers), signed.body)
    assert status == 200, headers.get("x-ca-error-message")
    assert gateway.backend.hits == hits + 1
    echoed = json.loads(data)
    seen = {k.lower(): v for k, v in echoed["headers"]}
    from authledger.gateway.signing import content_md5

    assert seen["content-md5"] == content_md5(signed.body)
    assert echoed["body"].encode() == signed.body


def test_changed_content_md5_header_is_refused_by_the_signature(gateway: Gateway) -> None:
    _granted_post_api(gateway, "createForged", "/v1/shoes")
    signed = gateway.client().sign(ApiGatewayRequest(method="POST", path="/v1/shoes", json_body={"name": "boots"}))
    forged = b'{"name": "stolen"}'
    from authledger.gateway.signing import content_md5

    headers_sent = {k: v for k, v in dict(signed.headers).items() if k.lower() != "content-md5"}
    headers_sent["Content-MD5"] = content_md5(forged)
    hits = gateway.backend.hits
    status, headers, _ = gateway.send("POST", signed.url, headers_sent, forged)
    assert status == 400
    assert headers.get("x-ca-error-message", "").startswith("Invalid Signature")
    assert gateway.backend.hits == hits
