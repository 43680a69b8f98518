"""kms.py: the deletion-window bound shared by every component that creates a CMK."""

from __future__ import annotations

import pytest

from mlinfra.aws.kms import check_deletion_window
from mlinfra.spec import SpecError


@pytest.mark.parametrize("days", [7, 30])
def test_kms_bounds_are_accepted(days):
    check_deletion_window(days)


@pytest.mark.parametrize("days", [0, 6, 31])
def test_outside_kms_bounds_is_refused_naming_the_field(days):
    with pytest.raises(SpecError, match=r"^key_deletion_window_days: .*allowed: 7-30 days") as e:
        check_deletion_window(days)
    assert e.value.field == "key_deletion_window_days"
