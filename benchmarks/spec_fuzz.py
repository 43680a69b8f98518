"""Fuzz the spec: does validation refuse every spec the plan would, without ever crashing?

    .venv/bin/python benchmarks/spec_fuzz.py [--examples 10000] [--cloud aws] [--seed 13] [--mutations 1]

Generates specs of every implemented cloud (tests/spec_property.py: the shipped stacks' specs
with fields replaced by plausible values and junk) and reports, per cloud, how many were refused
(with a field named), how many validated and planned offline, and the property's failures:
crashes, refusals naming no field, and specs that validate and then fail to plan. Each distinct
validated spec is planned once (plans are deterministic); `repeats` counts the others.
Exit status 1 when the property failed for any spec.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.spec_property import (  # noqa: E402
    CLOUDS,
    MUTATIONS,
    PlanBudget,
    PropertyViolation,
    check,
    platform_specs,
)


def fuzz(
    cloud: str, examples: int, rng_seed: int, mutations: tuple[int, ...] = MUTATIONS
) -> tuple[collections.Counter, list[str], PlanBudget, float]:
    counts: collections.Counter = collections.Counter()
    failures: list[str] = []
    budget = PlanBudget()

    @seed(rng_seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(platform_specs(cloud, mutations))
    def run(data):
        counts["specs"] += 1
        if counts["specs"] % 1000 == 0:
            print(f"  ... {counts['specs']} specs, {counts['planned']} planned", file=sys.stderr, flush=True)
        try:
            counts[check(data, plan=budget)] += 1
        except PropertyViolation as e:
            counts[e.kind] += 1
            failures.append(f"{e}\n    spec: {data!r}"[:2000])

    start = time.perf_counter()
    run()
    return counts, failures, budget, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--cloud", action="append", choices=CLOUDS, help="default: every implemented cloud")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--show", type=int, default=5, help="failures to print per cloud")
    parser.add_argument(
        "--mutations",
        type=int,
        help="change exactly this many fields per spec (default: 0-4, mostly 1-2); 1 validates more specs",
    )
    args = parser.parse_args()
    random.seed(args.seed)
    failed = False
    for cloud in args.cloud or CLOUDS:
        mutations = (args.mutations,) if args.mutations is not None else MUTATIONS
        counts, failures, budget, seconds = fuzz(cloud, args.examples, args.seed, mutations)
        planned = counts["planned"]
        accepted = planned + counts["accepted"]
        violations = counts["crash in validation"] + counts["crash in planning"]
        unplannable = counts["validated but failed to plan"] + counts["validated but planned nothing"]
        print(f"cloud {cloud}: {counts['specs']} specs in {seconds:.0f} s")
        print(f"  refused, naming a field:      {counts['refused']}")
        print(
            f"  validated:                    {accepted} ({planned} distinct planned, {budget.repeats} repeats)"
        )
        print(f"  crashes:                      {violations}")
        print(f"  refused without a field:      {counts['refused without naming a field']}")
        print(f"  validated, failed to plan:    {unplannable}")
        for f in failures[: args.show]:
            print("  - " + f)
        failed |= bool(failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
