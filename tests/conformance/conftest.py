from tests.dspy.conftest import isolated_dspy  # noqa: F401  # DSPy's global settings restored per test
