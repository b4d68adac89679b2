"""Secrets given to the CLI without putting them on the command line.

A custom AppSecret or AppCode typed as ``--app-secret VALUE`` is visible to every user of
the machine (``ps``, ``/proc/*/cmdline``) and lands in shell history. Each such option has
a ``…-from SOURCE`` twin, in the convention of OpenSSL's pass-phrase arguments:

    env:NAME    the value of environment variable NAME
    file:PATH   the first line of the file at PATH (one trailing newline removed)
    stdin       the first line of standard input (also written ``-``)

At most one option of a command reads standard input. A source is bounded (4 KiB) and a
missing variable, unreadable file or empty value is a usage error (exit 2) that names the
option and the source, never the value. The literal form still works and warns on stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

MAX_SECRET_BYTES = 4096
_STDIN_TAKEN = "authledger.secret_input.stdin"


def _first_line(data: bytes, where: str) -> str:
    if len(data) > MAX_SECRET_BYTES:
        raise ValueError(f"{where} holds more than {MAX_SECRET_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{where} is not UTF-8 text") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if "\n" in text or "\r" in text:
        raise ValueError(f"{where} holds more than one line")
    if not text:
        raise ValueError(f"{where} is empty")
    return text


def read_source(spec: str, ctx: click.Context | None = None) -> str:
    """The secret a SOURCE names (``env:NAME``, ``file:PATH``, ``stdin`` or ``-``)."""
    kind, _, rest = spec.partition(":")
    if spec in ("stdin", "-"):
        if ctx is not None:
            root = ctx.find_root()
            if root.meta.get(_STDIN_TAKEN):
                raise ValueError("standard input is already read by another option")
            root.meta[_STDIN_TAKEN] = True
        return _first_line(sys.stdin.buffer.read(MAX_SECRET_BYTES + 1), "standard input")
    if kind == "env" and rest:
        value = os.environ.get(rest)
        if value is None:
            raise ValueError(f"environment variable {rest[:64]} is not set")
        return _first_line(value.encode("utf-8", "surrogateescape"), f"environment variable {rest[:64]}")
    if kind == "file" and rest:
        try:
            with open(rest, "rb") as f:
                data = f.read(MAX_SECRET_BYTES + 1)
        except OSError as e:
            raise ValueError(f"cannot read {rest[:200]}: {e.strerror or e}") from None
        return _first_line(data, f"file {rest[:200]}")
    raise ValueError("expected env:NAME, file:PATH or stdin")


class SecretSource(click.ParamType):
    """A ``…-from`` option's value: read at parse time, so the command sees the secret."""

    name = "SOURCE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return read_source(str(value), ctx)
        except ValueError as e:
            self.fail(str(e), param, ctx)


def secret_option(name: str, help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--NAME VALUE`` (warns: visible in ps) and ``--NAME-from SOURCE``; the command gets one
    keyword argument named like ``--NAME`` (None when neither is given)."""
    dest = name.replace("-", "_")

    def choose(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        literal = ctx.params.pop(dest + "__literal", None)
        if literal is not None and value is not None:
            raise click.UsageError(f"use either --{name} or --{name}-from, not both", ctx)
        if literal is not None:
            click.echo(f"authledger: warning: --{name} on the command line is visible to other users (ps) "
                       f"and in shell history; prefer --{name}-from env:NAME|file:PATH|stdin", err=True)
            return literal
        return value

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        # The literal option is processed first (is_eager) and parked under a private name;
        # the -from option's callback picks one and fills the command's argument.
        f = click.option(f"--{name}-from", dest, type=SecretSource(), default=None, metavar="SOURCE",
                         callback=choose, help=f"{help} Read from env:NAME, file:PATH or stdin.")(f)
        f = click.option(f"--{name}", dest + "__literal", default=None, metavar="VALUE", is_eager=True,
                         expose_value=True, help=f"{help} Visible in ps and shell history: prefer "
                                                 f"--{name}-from.")(f)
        return _drop(dest + "__literal")(f)

    return decorate


def _drop(key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Remove the parked literal from the command's keyword arguments."""
    import functools

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def inner(*args: Any, **kwargs: Any) -> Any:
            kwargs.pop(key, None)
            return f(*args, **kwargs)

        return inner

    return wrap
