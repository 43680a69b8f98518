"""What every `mlinfra` command shares: one-line errors, output that fits, output files.

A command gets the error contract by decorating it with `user_errors` (under `@app.command()`):
it gains `--debug`, and anything it raises becomes ONE line on stderr and exit status 2,

    error: <file>[:<line>]: <field>: <message>

with the traceback only under `--debug`, and the "(run with --debug for the traceback)" hint
only when there is one worth reading (an exception in a program, not a message that says it all).
Exit 1 stays reserved for "a mandatory policy is violated".
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from mlinfra.errors import InputError
from mlinfra.wording import integral, plural

__all__ = ["integral", "plural"]

EXIT_OK, EXIT_POLICY, EXIT_ERROR = 0, 1, 2
# Width of rendered tables when stdout is not a terminal (CI logs, PR comments); text lines are
# never wrapped then (soft wrap), whatever the width.
PIPE_WIDTH = 240
DEBUG_HINT = "(run with --debug for the traceback)"

F = TypeVar("F", bound=Callable[..., Any])
# Exceptions the CLI framework handles itself (exit codes, usage errors): passed through.
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_PASS_THROUGH = (typer.Exit, typer.Abort, _CLICK_EXCEPTION)


def user_errors(fn: F) -> F:
    """Decorate a typer command: adds `--debug` and turns every error into one line + exit 2."""
    sig = inspect.signature(fn, eval_str=True)
    params = list(sig.parameters.values())
    has_debug = "debug" in sig.parameters
    if not has_debug:
        params.append(
            inspect.Parameter(
                "debug",
                inspect.Parameter.KEYWORD_ONLY,
                default=typer.Option(False, "--debug", help="Show the traceback of an error."),
                annotation=bool,
            )
        )

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug") if has_debug else kwargs.pop("debug", False))
        try:
            return fn(*args, **kwargs)
        except _PASS_THROUGH:
            raise
        except Exception as e:  # noqa: BLE001 - every error a user can meet ends as one line
            report_error(e, debug)
            raise typer.Exit(EXIT_ERROR) from None

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    if sig.return_annotation is not inspect.Signature.empty:
        wrapper.__annotations__["return"] = sig.return_annotation
    return wrapper  # type: ignore[return-value]


def error_line(e: BaseException) -> tuple[str, BaseException | None, bool]:
    """(the one line, the exception whose traceback --debug shows, whether to hint at --debug)."""
    from mlinfra.spec import SpecError

    if isinstance(e, InputError):
        unexpected = bool(getattr(e, "unexpected", False))
        return f"error: {e.text()}", e.cause, unexpected
    if isinstance(e, SpecError):
        field, reason = e.errors[0]
        more = [f for f, _ in e.errors[1:]]
        tail = f" (and {len(more)} more: {', '.join(str(f) for f in more)})" if more else ""
        return f"error: {field + ': ' if field else ''}{reason}{tail}", e, False
    if isinstance(e, OSError) and e.filename is not None:
        return f"error: {e.filename}: {e.strerror or e}", e, False
    return f"error: {type(e).__name__}: {e}", e, True


def report_error(e: BaseException, debug: bool = False) -> None:
    line, cause, unexpected = error_line(e)
    line = re.sub(r"\s*\n\s*", " ", line.strip())
    if debug and cause is not None:
        sys.stderr.write("".join(traceback.format_exception(cause)))
    elif unexpected:
        line = f"{line} {DEBUG_HINT}"
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- output


def console(stderr: bool = False) -> Console:
    """A console that fits the terminal, or, piped, never hard-wraps text (tables: PIPE_WIDTH)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False)
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=PIPE_WIDTH)


def check_output_path(path: Path, option: str) -> None:
    """Refuse, before any work, an output file that cannot be written (missing directory, a directory)."""
    if path.is_dir():
        raise InputError("is a directory; give a file name", file=path, field=option)
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"directory {parent} does not exist", file=path, field=option)
    if not os.access(parent, os.W_OK):
        raise InputError(f"directory {parent} is not writable", file=path, field=option)


def write_output(path: Path, text: str, option: str) -> None:
    check_output_path(path, option)
    try:
        path.write_text(text)
    except OSError as e:
        raise InputError(f"cannot write ({e.strerror})", file=path, field=option) from None
