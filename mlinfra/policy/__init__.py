"""Policy as code: rules as plain functions, shared by the offline engine and the CrossGuard packs.

`check_plan(plan)` runs every pack over a captured plan; `catalogue()` lists the rules;
`mlinfra.policy.crossguard` turns the same rules into `pulumi_policy` policies for
`pulumi preview --policy-pack policies/<pack>`.
"""

from mlinfra.policy.config import Exemption, PackConfig, PackConfigError, load_pack_config
from mlinfra.policy.engine import PolicyInfo, PolicyReport, Violation, catalogue, check_plan, check_resources
from mlinfra.policy.model import PACKS

__all__ = [
    "PACKS",
    "Exemption",
    "PackConfig",
    "PackConfigError",
    "PolicyInfo",
    "PolicyReport",
    "Violation",
    "catalogue",
    "check_plan",
    "check_resources",
    "load_pack_config",
]
