"""CrossGuard pack `mlinfra-guardrails`: assembles the guardrails rules of mlinfra.policy; no logic here.

Run: pulumi preview --policy-pack policies/guardrails [--policy-pack-config <(mlinfra policy export-config --pack guardrails --environment prod)]
"""

import sys
from pathlib import Path

# Inside a checkout of mlinfra its own rules run; elsewhere the released mlinfra of requirements.txt.
_CHECKOUT = Path(__file__).resolve().parents[2]
if (_CHECKOUT / "mlinfra" / "policy" / "crossguard.py").is_file():
    sys.path.insert(0, str(_CHECKOUT))

from mlinfra.policy.crossguard import pack_name, pack_policies, runtime_environment  # noqa: E402

PACK = "guardrails"
ENVIRONMENT = runtime_environment()
POLICIES = pack_policies(PACK, ENVIRONMENT)

if __name__ == "__main__":
    from pulumi_policy import PolicyPack

    # Constructing the pack serves gRPC to the Pulumi engine until it is stopped.
    PolicyPack(name=pack_name(PACK), policies=POLICIES)
