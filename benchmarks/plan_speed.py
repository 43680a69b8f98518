"""How the offline plan scales, as ratios (timings on shared machines are noisy; ratios less so).

    .venv/bin/python benchmarks/plan_speed.py [--repeat 5]

Reports, per shipped stack (every `stacks/<project>/Pulumi.<stack>.yaml`): resources, median
seconds for the program under mocks, and the share added by the policy packs and the cost estimate;
the per-resource cost of prod relative to dev per project (close to 1.0 means the engine scales
linearly with the graph). Then every shipped plan together from a cold interpreter, as a user's
first `mlinfra plan` runs, and the share of that which is importing the provider SDKs (modules
only: the packages of the stacks' platforms, pulumi_kubernetes and pulumi_random).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mlinfra.cost import estimate_plan
from mlinfra.offline import plan_stack
from mlinfra.policy import check_plan

ROOT = Path(__file__).resolve().parents[1]
# The modules each cloud's platform imports: what a first plan of that cloud pays for.
SDK_PACKAGES = {"pulumi_aws", "pulumi_azure_native", "pulumi_gcp", "pulumi_kubernetes", "pulumi_random"}
# `import time:       self [us] |  cumulative | imported package` (python -X importtime)
_IMPORT_TIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+\d+\s+\|\s+(.+)$")
PLATFORM_MODULES = {
    "aws": "mlinfra.aws.platform",
    "azure": "mlinfra.azure.platform",
    "gcp": "mlinfra.gcp.platform",
}


def shipped_stacks() -> list[tuple[str, str]]:
    order = {"dev": 0, "staging": 1, "prod": 2}
    cases = [
        (str(cfg.parent.relative_to(ROOT)), cfg.name.split(".")[1])
        for cfg in sorted(ROOT.glob("stacks/*/Pulumi.*.yaml"))
    ]
    return sorted(cases, key=lambda c: (c[0], order.get(c[1], 9), c[1]))


def median_seconds(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


_COLD = """
import importlib, json, sys, time
from pathlib import Path
start = time.perf_counter()
for module in sys.argv[2].split(","):
    importlib.import_module(module)
imported = time.perf_counter()
from mlinfra.cost import estimate_plan
from mlinfra.offline import plan_stack
from mlinfra.policy import check_plan
resources = 0
for case in json.loads(sys.argv[1]):
    plan = plan_stack(Path(case[0]), case[1])
    check_plan(plan)
    estimate_plan(plan)
    resources += len(plan.resources)
done = time.perf_counter()
print(json.dumps({"import": imported - start, "total": done - start, "resources": resources}))
"""


def cold_run(cases: list[tuple[str, str]], clouds: list[str]) -> dict[str, float]:
    """Every plan (program + policy + cost) in one fresh interpreter, the platforms' modules imported
    first; `sdk_import` sums Python's own import timing (-X importtime, self time) of every module of
    the provider SDKs, wherever it happened (the SDKs load most submodules lazily, at first use)."""
    modules = [PLATFORM_MODULES[c] for c in clouds if c in PLATFORM_MODULES]
    modules += ["pulumi_kubernetes", "pulumi_random"]
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            _COLD,
            json.dumps([[str(ROOT / d), s] for d, s in cases]),
            ",".join(modules),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    micros = 0
    for line in done.stderr.splitlines():
        m = _IMPORT_TIME.match(line)
        if m and m.group(2).strip().split(".")[0] in SDK_PACKAGES:
            micros += int(m.group(1))
    result["sdk_import"] = micros / 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cases = shipped_stacks()
    for stack_dir in sorted({d for d, _ in cases}):
        plan_stack(ROOT / stack_dir, next(s for d, s in cases if d == stack_dir))  # warm imports once
    rows = []
    clouds: set[str] = set()
    for stack_dir, stack in cases:
        plan = plan_stack(ROOT / stack_dir, stack)
        clouds.add(plan.cloud)
        program = median_seconds(lambda d=stack_dir, s=stack: plan_stack(ROOT / d, s), args.repeat)
        checks = median_seconds(lambda p=plan: (check_plan(p), estimate_plan(p)), args.repeat)
        rows.append((stack_dir, stack, len(plan.resources), program, checks))
    print(f"{'stack':28} {'resources':>9} {'program s':>10} {'per res ms':>10} {'checks/program':>15}")
    for stack_dir, stack, n, program, checks in rows:
        name = f"{stack_dir}:{stack}"
        print(f"{name:28} {n:9d} {program:10.3f} {1000 * program / n:10.2f} {checks / program:15.3f}")
    for stack_dir in sorted({r[0] for r in rows}):
        by_stack = {r[1]: r for r in rows if r[0] == stack_dir}
        if "dev" in by_stack and "prod" in by_stack:
            dev, prod = by_stack["dev"], by_stack["prod"]
            ratio = (prod[3] / prod[2]) / (dev[3] / dev[2])
            print(
                f"{stack_dir}: per-resource time prod/dev {ratio:.2f} (resources prod/dev: {prod[2] / dev[2]:.2f})"
            )
    cold = [cold_run(cases, sorted(clouds)) for _ in range(max(1, min(args.repeat, 3)))]
    total = statistics.median(c["total"] for c in cold)
    imports = statistics.median(c["sdk_import"] for c in cold)
    print(
        f"all {len(cases)} shipped plans, cold interpreter (program + policy + cost): {total:.1f} s "
        f"for {cold[0]['resources']:.0f} resources; provider SDK imports {imports:.1f} s = {imports / total:.0%} of it"
    )


if __name__ == "__main__":
    main()
