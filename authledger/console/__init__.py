"""The web console at ``/console``: the procedures of the vendor's console in a browser.

Server-rendered pages (Starlette + Jinja2, autoescaped), one small vendored script (the copy
button), nothing fetched from another host. Every action is an admin-API operation run
through ``authledger.service.admin.perform`` (the same gate, fields, scope and handler as
``/v1``; events recorded with source ``console``), so the console has no rule of its own.
Log-in is by token (``authledger token create``); see ``sessions`` and docs/console.md.
"""

from authledger.console.pages import routes

__all__ = ["routes"]
