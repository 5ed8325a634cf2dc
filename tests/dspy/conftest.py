import copy

import dspy
import pytest
from dspy.dsp.utils.settings import DEFAULT_CONFIG


@pytest.fixture(autouse=True)
def isolated_dspy():
    """No disk cache, no memory cache, and DSPy's global settings restored after every test."""
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    yield
    dspy.configure(**copy.deepcopy(DEFAULT_CONFIG))
