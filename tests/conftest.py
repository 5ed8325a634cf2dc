"""Test-wide settings: nothing in the test run may reach the network."""

import pytest

from ttc_plugins._extras import prefer_offline
from ttc_plugins.prompt_overhead import prompt_overheads

prefer_offline()


@pytest.fixture(autouse=True)
def _fresh_prompt_overheads():
    # The table is process-wide by design (a server's template does not change between budgets); a
    # fake that reports more prompt tokens than counted would otherwise change later tests' reservations.
    prompt_overheads.clear()
    yield
    prompt_overheads.clear()
