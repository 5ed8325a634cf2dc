"""Every LangChain strategy shows the chain it wraps: its schemas, its configurable fields, its config."""

from __future__ import annotations

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import ConfigurableField, RunnableLambda

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import TTCResult
from ttc_plugins.langchain import best_of_n, refine, self_consistency

PROMPT = ChatPromptTemplate.from_messages([("user", "What is {a} + {b}?")])


def _chain():
    return PROMPT | ScriptedChatModel(replies=["Answer: 7"]) | StrOutputParser()


def test_a_strategy_takes_and_returns_what_the_wrapped_chain_does():
    solver = self_consistency(_chain(), n=2)
    assert set(solver.get_input_schema().model_json_schema()["properties"]) == {"a", "b"}
    assert solver.get_output_schema().model_json_schema()["type"] == "string"
    assert solver.with_result().OutputType is TTCResult


@pytest.mark.filterwarnings("ignore:This API is in beta")
def test_it_can_be_a_tool_because_its_input_has_fields():
    tool = best_of_n(_chain(), verifier=lambda q, c: 1.0, n=2).as_tool(name="add", description="adds two numbers")
    assert set(tool.args) == {"a", "b"}
    assert tool.invoke({"a": "3", "b": "4"}) == "Answer: 7"  # a prompt template's variables are strings


def test_the_wrapped_chains_configurable_fields_show_through():
    model = ScriptedChatModel(replies=["Answer: 7"]).configurable_fields(
        model_name=ConfigurableField(id="model_name", name="Model name")
    )
    solver = self_consistency(PROMPT | model, n=2)
    assert [spec.id for spec in solver.config_specs] == ["model_name"]


def test_with_config_then_with_result_keeps_the_config():
    seen = []

    class Names(BaseCallbackHandler):
        def on_chain_start(self, serialized, inputs, *, name=None, parent_run_id=None, **kwargs):
            if parent_run_id is None:
                seen.append(name)

    solver = refine(
        RunnableLambda(lambda q: "Answer: 7"), critic=lambda d: "NO ISSUES", editor=lambda d: "x",
        scorer=lambda q, c: 1.0,
    )  # fmt: skip
    result = solver.with_config(callbacks=[Names()], run_name="checked sum").with_result().invoke("3 + 4?")
    assert isinstance(result, TTCResult) and result.answer == "7"
    assert seen == ["checked sum"]
