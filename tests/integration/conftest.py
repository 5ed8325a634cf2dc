"""The real embedded model server, started once per test run and stopped after it.

These tests are part of `make test`: `make` installs llama-cpp-python and the weights. A missing
install fails them loudly rather than skipping them, so CI cannot pass without the real model.
"""

import dspy
import pytest

from ttc_plugins.local import local_server


@pytest.fixture(scope="session")
def local_base_url():
    with local_server(n_ctx=2048) as base_url:
        yield base_url


@pytest.fixture
def no_dspy_cache():
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    yield
    dspy.configure(lm=None)
