"""Writers for the reports: Markdown, CSV, JSON and one self-contained HTML file.

Every writer is deterministic: the report document is already sorted and in UTC, JSON
keys are sorted, and nothing depends on the clock, the locale or the machine. The HTML
carries its CSS and its SVG timelines inline and references nothing outside itself.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from projections.temporal import to_micros
from authledger.reports import timeline

FORMATS = ("md", "csv", "json", "html")


@dataclass
class Table:
    """One table of a report: a title, (header, key) columns and rows; maybe a timeline above it."""

    title: str
    columns: list[tuple[str, str]]
    rows: list[dict[str, Any]]
    note: str = ""
    timeline: dict[str, Any] | None = field(default=None)


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(v["credential"] if isinstance(v, dict) and "credential" in v else str(v)
                         for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "-"
    return str(value)


def _us(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


# -- the four forms ------------------------------------------------------------------------

def to_json(doc: dict[str, Any], _tables: list[Table]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def to_csv(doc: dict[str, Any], tables: list[Table]) -> str:
    """One CSV: a ``section`` column, then the union of the tables' columns."""
    cols: list[tuple[str, str]] = []
    for t in tables:
        for c in t.columns:
            if c[1] not in [k for _h, k in cols]:
                cols.append(c)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", *(k for _h, k in cols)])
    for t in tables:
        keys = {k for _h, k in t.columns}
        for r in t.rows:
            w.writerow([t.title, *(cell(r.get(k)) if k in keys else "" for _h, k in cols)])
    return buf.getvalue()


def _params(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    keys = ("at", "from", "to", "days", "position")
    return [(k, doc[k]) for k in keys if k in doc and doc[k] is not None]


def _summary(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, cell(v)) for k, v in doc["summary"].items()]


def _md_cell(v: Any) -> str:
    return cell(v).replace("|", "\\|").replace("\n", " ")


def to_md(doc: dict[str, Any], tables: list[Table], title: str) -> str:
    out = [f"# {title}", ""]
    out += [f"- **{k}**: {v}" for k, v in _params(doc)] + [""]
    out += ["## Summary", ""] + [f"- {k}: {v}" for k, v in _summary(doc)] + [""]
    for t in tables:
        out += [f"## {t.title}", ""]
        if t.note:
            out += [t.note, ""]
        if not t.rows:
            out += ["(none)", ""]
            continue
        out.append("| " + " | ".join(h for h, _k in t.columns) + " |")
        out.append("|" + "---|" * len(t.columns))
        out += ["| " + " | ".join(_md_cell(r.get(k)) for _h, k in t.columns) + " |" for r in t.rows]
        out.append("")
    return "\n".join(out)


CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;color:#1d2329;background:#fff}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #d0d7de}
.params,.summary{border-collapse:collapse;margin:6px 0}.params td,.summary td{padding:2px 12px 2px 0;font-size:13px}
table.data{border-collapse:collapse;font-size:12px;margin:6px 0 12px}
table.data th{background:#f3f5f7;text-align:left;padding:4px 8px;border-bottom:1px solid #c9d1d9}
table.data td{padding:3px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
.note{font-size:12px;color:#57606a}.none{font-size:12px;color:#57606a;font-style:italic}
.flag{color:#b35900;font-weight:600}
svg.timeline{display:block;margin:6px 0;background:#fbfcfd;border:1px solid #e1e4e8}
.tl-title{font-size:13px;font-weight:600;fill:#1d2329}.tl-small{font-size:10px;fill:#57606a}
.tl-label{font-size:11px;fill:#1d2329}.tl-id{fill:#8c959f;font-family:monospace}
.tl-grid{stroke:#e1e4e8;stroke-width:1}.tl-at{stroke:#d1242f;stroke-width:1.5;stroke-dasharray:4 3}
"""


def _html_cell(k: str, v: Any) -> str:
    text = escape(cell(v))
    if isinstance(v, bool) and v and k in ("cross_account", "no_end_time"):
        return f'<span class="flag">{text}</span>'
    return text


def to_html(doc: dict[str, Any], tables: list[Table], title: str) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{escape(title)}</title><style>{CSS}</style></head><body>", f"<h1>{escape(title)}</h1>",
           '<table class="params">']
    out += [f"<tr><td>{escape(k)}</td><td>{escape(cell(v))}</td></tr>" for k, v in _params(doc)]
    out.append('</table><table class="summary">')
    out += [f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in _summary(doc)]
    out.append("</table>")
    for t in tables:
        out.append(f"<section><h2>{escape(t.title)}</h2>")
        if t.note:
            out.append(f'<p class="note">{escape(t.note)}</p>')
        if t.timeline is not None:
            tl = t.timeline
            out.append(timeline.svg(tl["title"], tl["intervals"], tl["names"], _us(tl["from"]), _us(tl["to"]),
                                    _us(tl["at"]) if tl.get("at") else None))
        if t.rows:
            out.append('<table class="data"><tr>' + "".join(f"<th>{escape(h)}</th>" for h, _k in t.columns) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{_html_cell(k, r.get(k))}</td>" for _h, k in t.columns) + "</tr>"
                    for r in t.rows]
            out.append("</table>")
        else:
            out.append('<p class="none">(none)</p>')
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render(doc: dict[str, Any], tables: list[Table], title: str, fmt: str) -> str:
    if fmt == "json":
        return to_json(doc, tables)
    if fmt == "csv":
        return to_csv(doc, tables)
    if fmt == "md":
        return to_md(doc, tables, title)
    return to_html(doc, tables, title)
