"""The platform's resource group: created per platform, or an existing one.

azure-native has no provider-level default tags (unlike pulumi-aws `default_tags`), so every
component tags its own resources; the group carries the same required tags. Deleting a resource
group deletes everything in it, so a created group is protected and retained in prod.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import resources

from mlinfra.components import stateful


@dataclass
class PlatformResourceGroup:
    name: pulumi.Output[str]
    id: pulumi.Output[str]
    resource: resources.ResourceGroup | None


def resource_group(
    parent: pulumi.Resource,
    name: str,
    *,
    group_name: str,
    location: str,
    subscription_id: str,
    existing: bool,
    protect: bool,
    tags: Mapping[str, str],
    provider: pulumi.ProviderResource | None = None,
) -> PlatformResourceGroup:
    """The group every platform resource goes into. An existing group is referenced by its ARM
    id (no lookup at plan time); its owner keeps its tags and lifecycle."""
    if existing:
        return PlatformResourceGroup(
            name=pulumi.Output.from_input(group_name),
            id=pulumi.Output.from_input(f"/subscriptions/{subscription_id}/resourceGroups/{group_name}"),
            resource=None,
        )
    group = resources.ResourceGroup(
        name,
        resource_group_name=group_name,
        location=location,
        tags=dict(tags),
        opts=stateful(parent, protect, provider=provider),
    )
    return PlatformResourceGroup(name=group.name, id=group.id, resource=group)
