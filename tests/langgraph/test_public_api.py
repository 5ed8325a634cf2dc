import subprocess
import sys
from types import ModuleType

import ttc_plugins.langgraph


def test_all_is_sorted_and_complete():
    public = {
        name
        for name, value in vars(ttc_plugins.langgraph).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert ttc_plugins.langgraph.__all__ == sorted(ttc_plugins.langgraph.__all__)
    assert set(ttc_plugins.langgraph.__all__) == public


def test_without_langgraph_the_adapter_names_the_extra():
    code = (
        "import sys\n"
        "sys.modules['langgraph'] = None  # makes `import langgraph` fail as if it were not installed\n"
        "try:\n"
        "    import ttc_plugins.langgraph\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'ttc-plugins[langgraph]'" in out.stdout
