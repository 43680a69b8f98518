"""Helpers every component uses, whatever the cloud: child options and stateful options."""

from __future__ import annotations

import pulumi


def child(parent: pulumi.Resource, **kwargs) -> pulumi.ResourceOptions:
    """Options for a child: always `parent=...`, so providers flow from the component."""
    return pulumi.ResourceOptions(parent=parent, **kwargs)


def stateful(parent: pulumi.Resource, protect: bool, **kwargs) -> pulumi.ResourceOptions:
    """Options for a stateful child (bucket, key, registry, cluster): protect + retain in prod."""
    return pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect, **kwargs)
