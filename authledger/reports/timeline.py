"""The SVG timeline of one API: one row per app, bars where it could call, marks at causes.

Input is a report's ``intervals`` (ISO instants, slim causes) and the window; output is
one inline ``<svg>`` (no scripts, no external references), deterministic to the byte.
Bars are coloured by stage; every boundary that lies inside the window carries a mark
for its cause — grant, revoke, expiry, disable, enable, reset, delete, added — and a
legend explains them. A clipped end (access going on past the window) has no mark.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from projections.temporal import from_micros, to_micros
from authledger.reports.common import mark

LEFT, RIGHT, TOP, ROW, WIDTH = 230, 24, 76, 20, 1240
STAGE_COLOURS = {"RELEASE": "#4e79a7", "PRE": "#b07aa1", "TEST": "#76b7b2"}
MARKS: dict[str, tuple[str, str]] = {  # kind → (colour, what it means)
    "grant": ("#2e7d32", "granted / renewed"),
    "revoke": ("#c62828", "revoked"),
    "expiry": ("#ef6c00", "expired (end time)"),
    "disable": ("#455a64", "app disabled"),
    "enable": ("#00897b", "app enabled"),
    "reset": ("#6a1b9a", "key / code reset"),
    "delete": ("#111111", "app, key or code deleted"),
    "added": ("#1565c0", "app created, key or code added"),
}


def _us(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def shape(kind: str, x: float, y: float) -> str:
    """One mark, centred on (x, y)."""
    c = MARKS[kind][0]
    if kind == "grant":
        return f'<path d="M{x:.1f} {y - 6:.1f}L{x + 5:.1f} {y + 4:.1f}L{x - 5:.1f} {y + 4:.1f}Z" fill="{c}"/>'
    if kind == "revoke":
        return (f'<path d="M{x - 4:.1f} {y - 4:.1f}L{x + 4:.1f} {y + 4:.1f}M{x + 4:.1f} {y - 4:.1f}'
                f'L{x - 4:.1f} {y + 4:.1f}" stroke="{c}" stroke-width="2.4"/>')
    if kind == "expiry":
        return f'<path d="M{x:.1f} {y - 6:.1f}L{x + 5:.1f} {y:.1f}L{x:.1f} {y + 6:.1f}L{x - 5:.1f} {y:.1f}Z" fill="{c}"/>'
    if kind == "disable":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{c}"/>'
    if kind == "enable":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{c}"/>'
    if kind == "reset":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="#fff" stroke="{c}" stroke-width="2.2"/>'
    if kind == "delete":
        return f'<path d="M{x:.1f} {y + 6:.1f}L{x + 5:.1f} {y - 4:.1f}L{x - 5:.1f} {y - 4:.1f}Z" fill="{c}"/>'
    return (f'<path d="M{x - 5:.1f} {y:.1f}H{x + 5:.1f}M{x:.1f} {y - 5:.1f}V{y + 5:.1f}" stroke="{c}"'
            ' stroke-width="2.4"/>')


def _ticks(lo: int, hi: int, n: int = 8) -> list[int]:
    step = max((hi - lo) // n, 1)
    return [lo + i * step for i in range(n + 1)]


def svg(title: str, intervals: list[dict[str, Any]], names: dict[str, str | None], lo: int, hi: int,
        at: int | None = None) -> str:
    """The timeline of one API over [lo, hi); ``at`` draws the review instant."""
    apps = sorted({r["app_id"] for r in intervals}, key=lambda a: (names.get(a) or "", a))
    height = TOP + ROW * max(len(apps), 1) + 34
    span = max(hi - lo, 1)

    def x(us: int) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (min(max(us, lo), hi) - lo) / span

    out = [(f'<svg class="timeline" width="{WIDTH}" height="{height}"'
            f' viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">'),
           f'<text x="4" y="14" class="tl-title">{escape(title)}</text>']
    # Legend: stages, then marks.
    lx = 4.0
    for stage, colour in STAGE_COLOURS.items():
        out.append(f'<rect x="{lx:.1f}" y="24" width="18" height="8" fill="{colour}"/>'
                   f'<text x="{lx + 22:.1f}" y="32" class="tl-small">{stage}</text>')
        lx += 86
    ly = 28
    for kind, (_c, meaning) in MARKS.items():
        width = 14 + 5.6 * len(meaning) + 14
        if lx + width > WIDTH:  # wrap the legend
            lx, ly = 4.0, ly + 16
        out.append(shape(kind, lx + 5, ly) + f'<text x="{lx + 14:.1f}" y="{ly + 4}" class="tl-small">'
                   f'{escape(meaning)}</text>')
        lx += width
    base = TOP + ROW * max(len(apps), 1)
    ticks = _ticks(lo, hi)
    for t in ticks:
        anchor = "end" if t == ticks[-1] else "middle"
        out.append(f'<line x1="{x(t):.1f}" y1="{TOP - 6}" x2="{x(t):.1f}" y2="{base}" class="tl-grid"/>'
                   f'<text x="{x(t):.1f}" y="{base + 14}" class="tl-small" text-anchor="{anchor}">'
                   f'{from_micros(t).strftime("%Y-%m-%d")}</text>')
    if not apps:
        out.append(f'<text x="{LEFT}" y="{TOP + 14}" class="tl-small">(nobody could call it in this window)</text>')
    for i, app in enumerate(apps):
        y = TOP + i * ROW
        name = names.get(app) or app[:8]
        out.append(f'<text x="{LEFT - 6}" y="{y + 14}" class="tl-label" text-anchor="end">'
                   f'{escape(name)} <tspan class="tl-id">{app[:8]}</tspan></text>')
        rows = [r for r in intervals if r["app_id"] == app]
        for r in rows:
            s = _us(r["start"])
            e = _us(r["end"]) if r["end"] is not None else hi
            tip = f'{r["stage"]} {r["credential"]}: {r["start"]} → {r["end"] or "open"}'
            out.append(f'<rect x="{x(s):.1f}" y="{y + 4}" width="{max(x(e) - x(s), 1.0):.1f}" height="12"'
                       f' fill="{STAGE_COLOURS.get(r["stage"], "#999")}" fill-opacity="0.55">'
                       f'<title>{escape(tip)}</title></rect>')
        seen: set[tuple[str, str]] = set()
        for r in rows:
            for when, cause, clipped in ((r["start"], r["start_cause"], r["start_clipped"]),
                                         (r["end"], r["end_cause"], r["end_clipped"])):
                m = mark(cause)
                if when is None or clipped or m is None or (when, m) in seen or not lo <= _us(when) < hi:
                    continue
                seen.add((when, m))
                out.append(f'<g><title>{escape(MARKS[m][1])} at {escape(when)}</title>'
                           f'{shape(m, x(_us(when)), y + 10)}</g>')
    if at is not None and lo <= at <= hi:
        out.append(f'<line x1="{x(at):.1f}" y1="{TOP - 8}" x2="{x(at):.1f}" y2="{base}" class="tl-at"/>'
                   f'<text x="{x(at) - 3:.1f}" y="{TOP - 10}" class="tl-small" text-anchor="end">review instant</text>')
    out.append("</svg>")
    return "".join(out)
