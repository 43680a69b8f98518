"""The rules, one module per pack. Importing this package fills the catalogue."""

from mlinfra.policy.rules import access, encryption, guardrails, kubernetes

__all__ = ["access", "encryption", "guardrails", "kubernetes"]
