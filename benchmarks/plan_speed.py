"""How the offline plan scales, as ratios (timings on shared machines are noisy; ratios less so).

    .venv/bin/python benchmarks/plan_speed.py [--repeat 5]

Reports, per shipped stack: resources, median seconds for the program under mocks, and the
share added by the policy packs and the cost estimate; then the per-resource cost of prod
relative to dev (close to 1.0 means the engine scales linearly with the graph).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from mlinfra.cost import estimate_plan
from mlinfra.offline import plan_stack
from mlinfra.policy import check_plan

ROOT = Path(__file__).resolve().parents[1]
STACKS = [("stacks/aws", "dev"), ("stacks/aws", "staging"), ("stacks/aws", "prod")]


def median_seconds(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    plan_stack(ROOT / "stacks/aws", "dev")  # warm imports once; they are not what is measured
    rows = []
    for stack_dir, stack in STACKS:
        plan = plan_stack(ROOT / stack_dir, stack)
        program = median_seconds(lambda d=stack_dir, s=stack: plan_stack(ROOT / d, s), args.repeat)
        checks = median_seconds(lambda p=plan: (check_plan(p), estimate_plan(p)), args.repeat)
        rows.append((f"{stack_dir}:{stack}", len(plan.resources), program, checks))
    print(f"{'stack':22} {'resources':>9} {'program s':>10} {'per res ms':>10} {'checks/program':>15}")
    for name, n, program, checks in rows:
        print(f"{name:22} {n:9d} {program:10.3f} {1000 * program / n:10.2f} {checks / program:15.3f}")
    dev, prod = rows[0], rows[-1]
    ratio = (prod[2] / prod[1]) / (dev[2] / dev[1])
    print(f"per-resource time prod/dev: {ratio:.2f} (resources prod/dev: {prod[1] / dev[1]:.2f})")


if __name__ == "__main__":
    main()
