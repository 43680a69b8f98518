"""Offline engine: plan a Pulumi program in-process, without the CLI, plugins or credentials."""

from mlinfra.offline.engine import Plan, ProgramError, ResourceRecord, load_stack, plan_stack, run_program

__all__ = ["Plan", "ProgramError", "ResourceRecord", "load_stack", "plan_stack", "run_program"]
