import importlib
import os
import subprocess
import sys
from types import ModuleType

import pytest

PUBLIC_PACKAGES = [
    "ttc_plugins",
    "ttc_plugins.langchain",
    "ttc_plugins.langgraph",
    "ttc_plugins.dspy",
    "ttc_plugins.local",
]


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_all_is_sorted_and_complete(package):
    module = importlib.import_module(package)
    public = {
        name for name, value in vars(module).items() if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    public -= {"annotations"}  # `from __future__ import annotations`
    assert len(module.__all__) == len(set(module.__all__))  # its order is ruff's (RUF022), checked by `make lint`
    assert set(module.__all__) == public


def test_importing_the_core_imports_no_framework():
    code = (
        "import sys, ttc_plugins, ttc_plugins.budget, ttc_plugins.tokens, ttc_plugins.results\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'langchain_core', 'langgraph', 'dspy', 'litellm'})\n"
        "print(','.join(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_budget_scope_loads_no_framework_the_program_did_not_import():
    code = (
        "import sys\n"
        "from ttc_plugins import Budget, budget_scope\n"
        "with budget_scope(Budget(max_calls=1)):\n"
        "    pass\n"
        "print('dspy' in sys.modules, 'langchain_core' in sys.modules)"
    )
    assert _run(code) == "False False"


def test_a_dspy_only_program_in_a_scope_loads_nothing_of_the_langchain_adapter():
    code = (
        "import sys\n"
        "import dspy\n"
        "from ttc_plugins import Budget, budget_scope\n"
        "with budget_scope(Budget(max_calls=1)):\n"
        "    pass\n"
        "adapter = sorted(m for m in sys.modules if m.startswith('ttc_plugins.langchain'))\n"
        "print(adapter, 'ttc_plugins.dspy' in sys.modules)"
    )
    assert _run(code) == "[] True"


def test_a_framework_first_imported_inside_a_scope_is_counted_from_its_first_call():
    code = (
        "from ttc_plugins import Budget, budget_scope\n"
        "budget = Budget(max_calls=1)\n"
        "with budget_scope(budget):\n"
        "    from langchain_core.language_models.fake_chat_models import FakeListChatModel\n"
        "    model = FakeListChatModel(responses=['hi'])\n"
        "    model.invoke('x')\n"
        "    try:\n"
        "        model.invoke('x')\n"
        "    except Exception as error:\n"
        "        print(type(error).__name__, budget.spent.calls)\n"
    )
    assert _run(code) == "BudgetExceeded 1"


def test_adapter_without_its_framework_names_the_extra():
    code = (
        "import sys\n"
        "sys.modules['dspy'] = None  # makes `import dspy` fail as if it were not installed\n"
        "try:\n"
        "    import ttc_plugins.dspy\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'ttc-plugins[dspy]'" in out.stdout


def test_langchain_adapter_without_langchain_names_the_extra():
    code = (
        "import sys\n"
        "sys.modules['langchain_core'] = None\n"
        "try:\n"
        "    import ttc_plugins.langchain\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'ttc-plugins[langchain]'" in out.stdout


def test_the_dspy_adapter_keeps_litellm_off_the_network_unless_told_otherwise():
    code = "import os, ttc_plugins.dspy; print(os.environ['LITELLM_LOCAL_MODEL_COST_MAP'])"
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "True"
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "False"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("adapter", "others"),
    [
        ("ttc_plugins.langchain", ["ttc_plugins.langgraph", "ttc_plugins.dspy"]),
        ("ttc_plugins.langgraph", ["ttc_plugins.langchain", "ttc_plugins.dspy"]),
        ("ttc_plugins.dspy", ["ttc_plugins.langchain", "ttc_plugins.langgraph"]),
    ],
)
def test_adapters_never_import_each_other(adapter, others):
    code = f"import sys, {adapter}; print(sorted(m for m in {others!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
