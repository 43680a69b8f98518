"""Offline engine: plan a Pulumi program in-process, without the CLI, plugins or credentials."""

from mlinfra.offline.engine import (
    UNKNOWN_MARK,
    Plan,
    PlanFileError,
    ProgramError,
    ResourceRecord,
    load_plan_file,
    load_stack,
    plan_stack,
    run_program,
)

__all__ = [
    "UNKNOWN_MARK",
    "Plan",
    "PlanFileError",
    "ProgramError",
    "ResourceRecord",
    "load_plan_file",
    "load_stack",
    "plan_stack",
    "run_program",
]
