"""Hypothesis profiles: derandomised and bounded by default, so CI runs are fast and repeatable."""

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis caches constants it finds in the code under test; keep them out of the checkout.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "segtune-hypothesis")

# `ci` (default): the same examples every run. `dev`: fresh random examples, more of them.
# Neither keeps an example database (.hypothesis/): a failure prints how to reproduce it.
settings.register_profile(
    "ci",
    database=None,
    derandomize=True,
    max_examples=150,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    database=None,
    max_examples=1000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("SEGTUNE_HYPOTHESIS_PROFILE", "ci"))
