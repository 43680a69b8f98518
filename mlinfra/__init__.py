"""mlinfra: Pulumi component resources for a hardened ML platform on AWS, GCP and Azure.

No cloud SDK is imported here: `import mlinfra.aws` needs only the `[aws]` extra.
"""

from mlinfra.spec import PlatformSpec, SpecError

__all__ = ["PlatformSpec", "SpecError", "__version__"]
__version__ = "0.2.0"
