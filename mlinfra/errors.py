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
