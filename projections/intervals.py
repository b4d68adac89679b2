"""Interval algebra for "could call": merge, intersect and clip ``[start, end)`` intervals.

An interval is ``(start, end, start_cause, end_cause)`` in µs; ``end`` None = open.
A cause is ``("event", position)`` or ``("expiry", end_time, position that set it)``.
The start of an intersection is caused by whichever factor started last (on a tie, the
later event); its end by whichever ended first (on a tie, the earlier event, then an
expiry). Touching intervals merge: access that never lapsed is one interval.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Cause = tuple[Any, ...]
Interval = tuple[int, "int | None", Cause, "Cause | None"]
INF = float("inf")


def _end(e: int | None) -> float:
    return INF if e is None else e


def _rank(c: Cause | None) -> float:
    """Order of causes at the same instant: events by position, expiries after them."""
    if c is None:
        return INF
    return c[1] if c[0] == "event" else INF - 1


def merge(ivs: Iterable[Interval]) -> list[Interval]:
    """Sort and merge overlapping or touching intervals; drop empty ones."""
    out: list[Interval] = []
    for iv in sorted((iv for iv in ivs if _end(iv[1]) > iv[0]), key=lambda iv: iv[0]):
        if out and iv[0] <= _end(out[-1][1]):
            s, e, sc, _ec = out[-1]
            if _end(iv[1]) > _end(e):
                out[-1] = (s, iv[1], sc, iv[3])
        else:
            out.append(iv)
    return out


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """The intersection of two merged interval lists, with causes."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        x, y = a[i], b[j]
        if x[0] > y[0] or (x[0] == y[0] and _rank(x[2]) >= _rank(y[2])):
            s, sc = x[0], x[2]
        else:
            s, sc = y[0], y[2]
        ex, ey = _end(x[1]), _end(y[1])
        if ex < ey or (ex == ey and _rank(x[3]) <= _rank(y[3])):
            e, ec = x[1], x[3]
        else:
            e, ec = y[1], y[3]
        if _end(e) > s:
            out.append((s, e, sc, ec))
        if ex < ey:
            i += 1
        elif ey < ex:
            j += 1
        else:
            i += 1
            j += 1
    return merge(out)


def grant_in_force(rows: Iterable[tuple[int, int | None, int | None, int, int | None]]) -> list[Interval]:
    """Grant periods (start, end, until, start_pos, end_pos) → when the grant was in force."""
    ivs: list[Interval] = []
    for start, end, until, spos, epos in rows:
        if until is not None and (end is None or until <= end):
            ivs.append((start, until, ("event", spos), ("expiry", until, spos)))
        else:
            ivs.append((start, end, ("event", spos), None if end is None else ("event", epos)))
    return merge(ivs)


def periods(rows: Iterable[tuple[int, int | None, int, int | None]]) -> list[Interval]:
    """Factor periods (start, end, start_pos, end_pos) → merged intervals."""
    return merge((s, e, ("event", sp), None if e is None else ("event", ep)) for s, e, sp, ep in rows)


def clip(ivs: list[Interval], lo: int, hi: int) -> list[tuple[int, int | None, Interval, bool, bool]]:
    """Intervals overlapping ``[lo, hi)``: (start, end, original, start clipped, end clipped)."""
    out = []
    for iv in ivs:
        s, e = iv[0], iv[1]
        if s < hi and _end(e) > lo:
            out.append((max(s, lo), hi if _end(e) > hi else e, iv, s < lo, _end(e) > hi))
    return out


def contains(ivs: list[Interval], t: int) -> bool:
    return any(iv[0] <= t < _end(iv[1]) for iv in ivs)
