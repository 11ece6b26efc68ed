"""xarray's own zarr tests, run through ``.zio`` (tests/xarray_suite): the drop-in measured.

Slow (two runs of about a thousand tests each), so marked ``slow``; it runs
in CI all the same.
"""

from __future__ import annotations

import pytest

from .xarray_suite.run import compare

#: failures allowed besides those on an error's text only; every one of them a
#: deliberate difference listed in docs/guarantees.rst, "Where xzarrio differs"
MOST_FAILURES = 50


@pytest.mark.slow
def test_xarrays_zarr_tests_pass_through_zio() -> None:
    result = compare()
    print(result.summary())
    assert result.passed_with_xarray > 1000  # the classes were found and ran
    assert result.unsupported_keyword == []
    assert len(result.failed) <= MOST_FAILURES, result.summary()
