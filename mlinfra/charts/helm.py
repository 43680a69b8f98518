"""Finding and running Helm v3.

Pulumi's `kubernetes.helm.v3.Release` embeds Helm v3's libraries, so what a stack installs is what
Helm v3 renders: mlinfra renders with Helm v3 and refuses another major version. Helm is looked up
as `MLINFRA_HELM` (only there, when set), else `helm` on PATH, else `.tools/bin/helm` in the
repository (where `scripts/install-helm.sh`, part of the README's set-up, puts it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlinfra.charts.data import REPO_ROOT

ENV_VAR = "MLINFRA_HELM"
TOOLS_HELM = REPO_ROOT / ".tools" / "bin" / "helm"
REQUIRED_MAJOR = "v3"
HOW_TO_GET = (
    "run `bash scripts/install-helm.sh` in the repository (installs Helm v3.17.2 into .tools/bin), "
    f"or install Helm v3 (https://helm.sh/docs/intro/install/) and put it on PATH or set {ENV_VAR}=/path/to/helm"
)


class HelmError(Exception):
    """Helm is missing, is not v3, or a Helm command failed (the message carries Helm's own error)."""


@dataclass(frozen=True)
class Helm:
    path: str
    version: str

    def run(
        self, args: Sequence[str], *, cwd: str | os.PathLike[str] | None = None, timeout: int = 300
    ) -> str:
        """Run `helm <args>`; its stdout, or a HelmError quoting its stderr."""
        try:
            done = subprocess.run(
                [self.path, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise HelmError(f"`helm {' '.join(args[:2])}` did not finish within {timeout}s") from None
        if done.returncode != 0:
            raise HelmError(
                f"`helm {' '.join(args[:2])} ...` failed: {done.stderr.strip() or done.stdout.strip()}"
            )
        return done.stdout

    def template(
        self,
        release_name: str,
        chart: Path,
        *,
        namespace: str,
        values_file: Path,
        kube_version: str,
        api_versions: Sequence[str] = (),
    ) -> str:
        """`helm template` as `helm install` would render it: CRDs and hooks included, tests skipped."""
        args = [
            "template",
            release_name,
            str(chart),
            "--namespace",
            namespace,
            "--values",
            str(values_file),
            "--kube-version",
            kube_version,
            "--include-crds",
            "--skip-tests",
        ]
        for api in sorted(api_versions):
            args += ["--api-versions", api]
        return self.run(args)


def _version(path: str) -> str:
    try:
        done = subprocess.run(
            [path, "version", "--template", "{{.Version}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError as e:
        raise HelmError(f"{path}: cannot run ({e.strerror})") from None
    if done.returncode != 0:
        raise HelmError(f"{path} version failed: {done.stderr.strip()}")
    return done.stdout.strip()


def find_helm() -> Helm:
    """The Helm v3 binary to use, or a HelmError saying how to get one."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        candidates = [(explicit, ENV_VAR)]
    else:
        candidates = []
        on_path = shutil.which("helm")
        if on_path:
            candidates.append((on_path, "PATH"))
        if TOOLS_HELM.is_file():
            candidates.append((str(TOOLS_HELM), "the set-up's .tools/bin"))
    if not candidates:
        raise HelmError(
            f"Helm v3 was not found ({ENV_VAR} unset, no helm on PATH, no {TOOLS_HELM}); {HOW_TO_GET}"
        )
    refused = []
    for path, where in candidates:
        if explicit and not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise HelmError(f"{ENV_VAR}={path} is not an executable file; {HOW_TO_GET}")
        version = _version(path)
        if version.startswith(REQUIRED_MAJOR + "."):
            return Helm(path, version)
        refused.append(f"{path} ({where}) is Helm {version}")
    raise HelmError(
        f"{'; '.join(refused)}: mlinfra renders with Helm v3, the Helm that Pulumi's helm.v3.Release embeds "
        f"(a v4 render may differ from what `pulumi up` installs); {HOW_TO_GET}"
    )
