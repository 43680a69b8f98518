"""What a rule is: a plain function with a name, a description, a severity and remediation.

Resource rules look at one resource (`check(res, ctx) -> messages`); stack rules look at all
of them (`check(resources, ctx) -> [(resource, message)]`), for the checks that join
resources (an S3 bucket and its separate encryption, public-access-block and policy
resources) or read resource options (protect). Neither knows about gRPC: the offline engine
and the CrossGuard packs both call them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from mlinfra.catalog import ENVIRONMENTS

Severity = Literal["low", "medium", "high", "critical"]
Kind = Literal["resource", "stack"]
PACKS = ("encryption", "access", "kubernetes", "guardrails")


@dataclass
class Res:
    """One resource as rules see it (built from a plan record or from CrossGuard's args)."""

    type: str
    name: str
    props: Any
    urn: str = ""
    protect: bool = False
    provider_props: Any = None
    dependencies: list[str] = field(default_factory=list)
    parent: str | None = None


@dataclass(frozen=True)
class Ctx:
    environment: str = "dev"

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise ValueError(f"environment {self.environment!r} is not one of {', '.join(ENVIRONMENTS)}")

    @property
    def prod(self) -> bool:
        return self.environment == "prod"


ResourceCheck = Callable[[Res, Ctx], Iterable[str]]
StackCheck = Callable[[list[Res], Ctx], Iterable[tuple[Res, str]]]


@dataclass(frozen=True)
class Rule:
    name: str
    pack: str
    description: str
    severity: Severity
    remediation: str
    kind: Kind
    check: Callable[..., Iterable[Any]]
    types: frozenset[str] | None = None  # resource rules: the types it reads (None: decided by `applies`)
    applies: Callable[[str], bool] | None = None
    self_exemption: Callable[[Res], str | None] | None = None  # a reason carried by the resource itself

    def applies_to(self, type_: str) -> bool:
        if self.types is not None and type_ in self.types:
            return True
        return self.applies(type_) if self.applies is not None else False


RULES: list[Rule] = []


def rule(
    name: str,
    *,
    pack: str,
    description: str,
    severity: Severity,
    remediation: str,
    types: Iterable[str] | None = None,
    applies: Callable[[str], bool] | None = None,
    kind: Kind = "resource",
    self_exemption: Callable[[Res], str | None] | None = None,
):
    """Register a rule function in the catalogue (names are unique across packs)."""
    if pack not in PACKS:
        raise ValueError(f"unknown pack {pack!r}; allowed: {', '.join(PACKS)}")
    if any(r.name == name for r in RULES):
        raise ValueError(f"duplicate policy name {name!r}")

    def register(fn: Callable[..., Iterable[Any]]):
        RULES.append(
            Rule(
                name=name,
                pack=pack,
                description=description,
                severity=severity,
                remediation=remediation,
                kind=kind,
                check=fn,
                types=frozenset(types) if types is not None else None,
                applies=applies,
                self_exemption=self_exemption,
            )
        )
        return fn

    return register
