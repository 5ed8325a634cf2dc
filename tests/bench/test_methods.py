import pytest

from ttc_plugins.bench.methods import (
    ARITHMETIC_DEFAULT_METHODS,
    GENERIC_DEFAULT_METHODS,
    BenchModels,
    MethodSpec,
    build_methods,
    parse_method_names,
)


def test_parses_names_keeping_order_and_dropping_repeats():
    specs = parse_method_names(" greedy,sc@8, adaptive-sc@16,sc@8,,bon-check@4 ")
    assert [s.name for s in specs] == ["greedy", "sc@8", "adaptive-sc@16", "bon-check@4"]
    assert specs[1] == MethodSpec("sc", 8)


def test_the_defaults_parse_and_only_the_arithmetic_default_uses_the_calculator():
    arithmetic = parse_method_names(ARITHMETIC_DEFAULT_METHODS)
    generic = parse_method_names(GENERIC_DEFAULT_METHODS)
    assert {s.name for s in arithmetic if s.info.needs_arithmetic} == {"bon-check@4", "dspy-bestofn@4"}
    assert not any(s.info.needs_arithmetic for s in generic)
    assert {s.name for s in arithmetic if s.info.oracle_like} == {"bon-check@4", "dspy-bestofn@4"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sc", "needs a sample count"),
        ("greedy@2", "takes no sample count"),
        ("beam@4", "unknown method 'beam@4'"),
        ("sc@0", "needs at least one sample"),
        ("sc@x", "unknown method"),
        (" , ", "no methods given"),
    ],
)
def test_bad_names_are_explained(text, message):
    with pytest.raises(ValueError, match=message):
        parse_method_names(text)


def test_dspy_methods_need_a_dspy_lm():
    with pytest.raises(ValueError, match="needs a DSPy LM"):
        build_methods(parse_method_names("dspy-majority@8"), BenchModels(greedy=None, sampler=None))
