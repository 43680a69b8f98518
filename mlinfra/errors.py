"""Input errors: what a user can fix, located by file, line and field.

Every CLI command turns an `InputError` into one line on stderr and exit status 2
(`mlinfra.cli_support.user_errors`):

    error: stacks/aws/Pulumi.dev.yaml:42: serving.models.1.name: duplicate model name 'm' (listed twice)

Library code raises its own subclasses (`ProgramError`, `PackConfigError`, `PlanFileError`,
`YamlFileError`); none of this module imports a cloud SDK.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input: a message naming the file (and line) and the field, and what is allowed.

    `cause` is the exception behind it when there is a traceback worth showing (`--debug`); it is
    None when the message says everything (a spec error, a YAML syntax error).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        cause: BaseException | None = None,
    ):
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.cause = cause
        super().__init__(self.text())

    def location(self) -> str:
        """`file:line: field` (the parts that are known)."""
        where = self.file or ""
        if where and self.line is not None:
            where += f":{self.line}"
        return ": ".join(p for p in (where, self.field) if p)

    def text(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message


def read_text(path: str | Path, error: type[InputError], what: str) -> str:
    """A UTF-8 file's text, or `error` naming the file (and the line of a bad byte).

    `what` names what the file should be ("a saved plan"), for the message about a directory.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except IsADirectoryError:
        raise error(f"is a directory, not {what}", file=p) from None
    except OSError as e:
        raise error(f"cannot read ({e.strerror})", file=p) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise error(
            f"not UTF-8 (byte 0x{raw[e.start]:02x}); save the file as UTF-8", file=p, line=line
        ) from None
