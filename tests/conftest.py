"""Shared test set-up.

The real-data mirror: tests read real cohorts through ``omicsdisent.datasets`` with
``OMICSDISENT_DATA_MIRROR`` pointing at ``../shared/data`` (beside the repository) unless the
variable is already set. Where the folder is absent the real-data tests skip with a reason, except
under CI (``CI=true``), where an absent mirror is an error: those tests must run there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = REPO.parent / "shared" / "data"

os.environ.setdefault("OMICSDISENT_DATA_MIRROR", str(DEFAULT_MIRROR))
# Keep downloads (and extracted wheel members) out of the user's cache during tests.
os.environ.setdefault("OMICSDISENT_CACHE", str(REPO / ".pytest_cache" / "omicsdisent-data"))


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The real-data mirror folder; skips (or, under CI, fails) where it is absent."""
    path = Path(os.environ["OMICSDISENT_DATA_MIRROR"])
    if not (path / "SHA256SUMS").is_file():
        reason = f"real-data mirror not found at {path} (set OMICSDISENT_DATA_MIRROR)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI must run the real-data tests")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of tiny networks: a second intra-op thread only adds
    synchronisation, and stalls on a busy machine. Opt in with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
