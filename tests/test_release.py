"""What a team pins: one version (mlinfra/__init__.py) that the wheel, the policy packs and the
CHANGELOG agree on, and a wheel that carries py.typed and the data files."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
import yaml

import mlinfra
from mlinfra.policy import PACKS

ROOT = Path(__file__).resolve().parents[1]
# The distribution name. `mlinfra` on PyPI is an unrelated project (`pip index versions mlinfra`:
# 0.0.29, "A tool to deploy mlops tooling"); `pip index versions mlinfra-platform` found none
# (checked for this release). The import package stays `mlinfra`.
DIST = "mlinfra-platform"


def test_version_is_semantic_and_in_the_changelog():
    assert re.fullmatch(r"\d+\.\d+\.\d+", mlinfra.__version__)
    assert f"## [{mlinfra.__version__}]" in (ROOT / "CHANGELOG.md").read_text()


@pytest.mark.parametrize("pack", PACKS)
def test_policy_packs_run_the_checkout_and_carry_the_release_version(pack):
    """In this repository a pack installs the checkout (0.2.0 is not on PyPI yet, so a pinned release
    would fail `pulumi preview --policy-pack` here); its version is the package's."""
    d = ROOT / "policies" / pack
    reqs = [
        line
        for line in (d / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert reqs == ["-e ../.."]
    assert (d / "../..").resolve() == ROOT
    assert yaml.safe_load((d / "PulumiPolicy.yaml").read_text())["version"] == mlinfra.__version__


def test_wheel_ships_py_typed_and_data(tmp_path):
    from hatchling.builders.wheel import WheelBuilder

    wheel = Path(next(WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])))
    assert wheel.name.startswith(f"{DIST.replace('-', '_')}-{mlinfra.__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"mlinfra/py.typed", "mlinfra/cost/prices_aws.json", "mlinfra/delivery/diff.py"} <= names


def test_the_distribution_name_is_ours_everywhere_a_user_installs_it():
    """Review finding 1: nothing tells a user to install `mlinfra` from PyPI (someone else's code,
    run with the deployer's credentials by the policy packs)."""
    import tomllib

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"] == DIST
    foreign = re.compile(r"""(?<![\w-])mlinfra(\[[a-z,]+\])?(==|>=|~=| @ )""")
    files = [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        ROOT / "action.yml",
        *(ROOT / "policies").glob("*/requirements.txt"),
        *(ROOT / "examples").rglob("requirements*.txt"),
        *(ROOT / "examples/pipelines").rglob("*.yml"),
    ]
    hits = [f"{f.relative_to(ROOT)}: {m.group(0)}" for f in files for m in foreign.finditer(f.read_text())]
    assert hits == []
    assert f"{DIST}[aws]==" in (ROOT / "README.md").read_text()
    assert DIST in (ROOT / "action.yml").read_text()
