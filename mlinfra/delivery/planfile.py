"""Reading a saved plan (`mlinfra plan --json FILE`): the one function every delivery command
uses, so a plan file is validated in one place."""

from __future__ import annotations

import json
from pathlib import Path

from mlinfra.offline.engine import Plan


class PlanFileError(ValueError):
    """A file that is not a plan this mlinfra can read; the message names the file and the field."""


def read_plan(path: str | Path) -> Plan:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except OSError as e:
        raise PlanFileError(f"{p}: cannot read ({e.strerror})") from None
    except ValueError as e:
        raise PlanFileError(f"{p}: not JSON ({e})") from None
    if not isinstance(data, dict):
        raise PlanFileError(f"{p}: not a saved plan (a JSON object is expected)")
    try:
        return Plan.from_json(data)
    except KeyError as e:
        raise PlanFileError(f"{p}: not a saved plan (missing field {e.args[0]!r})") from None
    except (ValueError, TypeError) as e:
        raise PlanFileError(f"{p}: {e}") from None
