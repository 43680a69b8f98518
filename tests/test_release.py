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


def test_version_is_semantic_and_in_the_changelog():
    assert re.fullmatch(r"\d+\.\d+\.\d+", mlinfra.__version__)
    assert f"## [{mlinfra.__version__}]" in (ROOT / "CHANGELOG.md").read_text()


@pytest.mark.parametrize("pack", PACKS)
def test_policy_packs_depend_on_the_released_version(pack):
    d = ROOT / "policies" / pack
    reqs = [
        line
        for line in (d / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert reqs == [f"mlinfra=={mlinfra.__version__}"]
    assert yaml.safe_load((d / "PulumiPolicy.yaml").read_text())["version"] == mlinfra.__version__


def test_wheel_ships_py_typed_and_data(tmp_path):
    from hatchling.builders.wheel import WheelBuilder

    wheel = Path(next(WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])))
    assert wheel.name.startswith(f"mlinfra-{mlinfra.__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"mlinfra/py.typed", "mlinfra/cost/prices_aws.json", "mlinfra/delivery/diff.py"} <= names
