"""The HTML form: one self-contained file, one SVG timeline per API, and it renders."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from authledger.reports.run import generate
from tests.reports.conftest import AT, FROM, TO

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _self_contained(html: str) -> None:
    assert not re.search(r"""(src|href|xlink:href|action)\s*=""", html, re.IGNORECASE)
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, re.IGNORECASE)
    assert "url(" not in html and "@import" not in html and "<script" not in html.lower()
    assert "<link" not in html.lower() and "<iframe" not in html.lower()


@pytest.mark.parametrize(("name", "params"), [("access-review", {"at": AT}),
                                              ("access-changes", {"start": FROM, "end": TO})])
def test_one_svg_timeline_per_api_and_nothing_fetched(demo: dict[str, Any], name: str, params: dict[str, Any]) -> None:
    html = generate(name, "html", db=demo["db"], **params)
    doc = json.loads(generate(name, "json", db=demo["db"], **params))
    _self_contained(html)
    assert html.count("<svg") == html.count("</svg>") == len(doc["apis"]) > 0
    # Every API's section carries its own timeline, with a legend naming each kind of mark.
    for api in doc["apis"]:
        section = html.split(api["api_id"], 1)[1].split("<section>", 1)[0]
        assert "<svg" in section
        for meaning in ("granted", "revoked", "expired", "app disabled", "app enabled", "reset", "deleted"):
            assert meaning in section


@pytest.mark.parametrize("name", ["credential-hygiene", "separation-of-duties"])
def test_the_other_reports_are_self_contained_too(demo: dict[str, Any], name: str) -> None:
    _self_contained(generate(name, "html", db=demo["db"], **({"at": AT} if name == "credential-hygiene" else {})))


def _png_colours(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct pixel values) of an 8-bit RGB/RGBA PNG, decoded with zlib."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = depth = ctype = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert depth == 8 and ctype in (2, 6)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    assert len(raw) == height * (stride + 1)
    # Undo the scanline filters and count colours.
    prev = bytearray(stride)
    colours: set[bytes] = set()
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:
            colours.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp * 2))
        prev = line
    return width, height, len(colours)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (scripts/test installs it)")
def test_headless_chromium_renders_the_access_review(demo: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "access-review.html"
    page.write_text(generate("access-review", "html", db=demo["db"], at=AT), encoding="utf-8")
    shot = tmp_path / "shot.png"
    assert CHROMIUM is not None
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                    "--window-size=1400,1000", page.as_uri()], capture_output=True, timeout=90, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    width, height, colours = _png_colours(shot.read_bytes())
    assert (width, height) == (1400, 1000)
    assert colours > 30, f"the page looks blank ({colours} colours)"
