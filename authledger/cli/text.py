"""Human output: aligned ``key  value`` blocks, small tables, and command receipts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# Receipt fields that carry a secret: printed by the command that made them, never again.
SECRET_FIELDS = ("app_secret", "app_code")
ONCE = "(shown once: store it now, it cannot be shown again)"


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def block(rows: Iterable[tuple[str, Any]]) -> str:
    """``label  value`` lines with the values aligned."""
    rows = list(rows)
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"{k + ':':<{width + 1}}  {cell(v)}" for k, v in rows)


def table(items: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], empty: str = "(none)") -> str:
    """Rows of ``items`` under ``columns`` (header, key), aligned; ``empty`` when there are none."""
    if not items:
        return empty
    grid = [[h for h, _ in columns]] + [[cell(it.get(k)) for _, k in columns] for it in items]
    widths = [max(len(r[i]) for r in grid) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in grid)


def receipt(title: str, data: dict[str, Any], skip: Sequence[str] = ()) -> str:
    """A mutating command's result: what it made, its secrets (marked shown once), where it landed."""
    if not data.get("changed", True):
        title += " (nothing to change)"
    rows: list[tuple[str, Any]] = []
    for k, v in data.items():
        if k in ("changed", "events", "position", "timestamp") or k in skip:
            continue
        rows.append((k, f"{v}  {ONCE}" if k in SECRET_FIELDS else v))
    rows += [("position", data.get("position")), ("timestamp", data.get("timestamp"))]
    return title + "\n" + indent(block(rows))


def indent(text: str, by: str = "  ") -> str:
    return "\n".join(by + line if line else line for line in text.splitlines())
