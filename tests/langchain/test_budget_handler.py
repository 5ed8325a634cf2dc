import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from tests.langchain.fakes import ScriptedChatModel
from tests.reservations import record_reservations
from ttc_plugins import Budget, BudgetExceeded, budget_role, budget_scope, count_tokens
from ttc_plugins.langchain import BudgetCallbackHandler

PROMPT = ChatPromptTemplate.from_messages([("user", "What is {a} + {b}?")])


def _chain(**model_options):
    model = ScriptedChatModel(replies=["Answer: 4"], max_tokens=5, **model_options)
    return PROMPT | model | StrOutputParser(), model


def _prompt_tokens(a=2, b=2):
    return count_tokens(PROMPT.invoke({"a": a, "b": b}).to_messages(), "scripted-1")


def _calls_that_fit(limit, prompt_tokens, cap, committed_per_call):
    """How many calls a budget admits when each reserves prompt+cap and then commits a fixed amount."""
    calls = 0
    while calls * committed_per_call + prompt_tokens + cap <= limit:
        calls += 1
    return calls


def test_an_unmodified_chain_inside_a_scope_stops_at_the_call_that_would_cross_the_limit():
    chain, model = _chain()
    budget = Budget(max_total_tokens=100)
    expected = _calls_that_fit(100, _prompt_tokens(), cap=5, committed_per_call=15)
    with budget_scope(budget):
        for _ in range(expected):
            assert chain.invoke({"a": 2, "b": 2}) == "Answer: 4"
        with pytest.raises(BudgetExceeded) as refused:
            chain.invoke({"a": 2, "b": 2})
    assert refused.value.limit == "max_total_tokens"
    assert model.calls == expected  # the refused call never reached the model
    spend = budget.spent
    assert (spend.calls, spend.input_tokens, spend.output_tokens) == (expected, 10 * expected, 5 * expected)
    assert spend.by_model["scripted-1"].calls == expected


async def test_async_chains_are_counted_and_stopped_the_same_way():
    chain, model = _chain()
    budget = Budget(max_total_tokens=100)
    expected = _calls_that_fit(100, _prompt_tokens(), cap=5, committed_per_call=15)
    with budget_scope(budget):
        for _ in range(expected):
            await chain.ainvoke({"a": 2, "b": 2})
        with pytest.raises(BudgetExceeded):
            await chain.ainvoke({"a": 2, "b": 2})
    assert model.calls == expected
    assert budget.spent.calls == expected


def test_batch_with_max_concurrency_never_overshoots_and_returns_the_refusals():
    chain, model = _chain()
    budget = Budget(max_total_tokens=200)
    with budget_scope(budget):
        results = chain.batch([{"a": i, "b": i} for i in range(32)], {"max_concurrency": 4}, return_exceptions=True)
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    answered = [r for r in results if r == "Answer: 4"]
    assert len(refused) + len(answered) == 32
    assert len(answered) == model.calls == budget.spent.calls
    assert 0 < len(answered) < 32
    assert budget.spent.total_tokens <= 200


async def test_32_concurrent_async_calls_spend_at_most_the_limit():
    chain, model = _chain()
    budget = Budget(max_total_tokens=300)

    async def one(i):
        try:
            return await chain.ainvoke({"a": i, "b": 1})
        except BudgetExceeded as error:
            return error

    with budget_scope(budget):
        results = await asyncio.gather(*(one(i) for i in range(32)))
    assert budget.spent.total_tokens <= 300
    assert budget.spent.calls == model.calls == sum(r == "Answer: 4" for r in results)
    assert any(isinstance(r, BudgetExceeded) for r in results)


def test_32_concurrent_threads_spend_at_most_the_limit():
    chain, model = _chain()
    budget = Budget(max_total_tokens=300)

    def one(i):
        try:
            return chain.invoke({"a": i, "b": 1})
        except BudgetExceeded as error:
            return error

    # Threads a user starts by hand need the context copied in; LangChain's own executors do it.
    with budget_scope(budget), ThreadPoolExecutor(max_workers=32) as pool:
        futures = [pool.submit(contextvars.copy_context().run, one, i) for i in range(32)]
        results = [future.result() for future in futures]
    assert budget.spent.total_tokens <= 300
    assert budget.spent.calls == model.calls == sum(r == "Answer: 4" for r in results)


def test_usage_missing_from_the_provider_is_counted_from_the_text():
    model = FakeListChatModel(responses=["The answer is 4."])
    budget = Budget()
    with budget_scope(budget):
        model.invoke("What is 2 + 2?")
    prompt = count_tokens([("human", "What is 2 + 2?")], "fake-list-chat-model")
    assert budget.spent.input_tokens == prompt
    assert budget.spent.output_tokens == count_tokens("The answer is 4.")


def test_n_choices_are_reserved_n_times_and_the_request_usage_is_charged_once():
    model = ScriptedChatModel(replies=["a", "b", "c"], n=3, max_tokens=20)
    budget = Budget()
    with budget_scope(budget):
        result = model.generate([[HumanMessage("hi")]])
    assert len(result.generations[0]) == 3
    spend = budget.spent
    assert (spend.calls, spend.input_tokens, spend.output_tokens) == (1, 10, 15)


def test_n_choices_need_room_for_all_of_them():
    model = ScriptedChatModel(replies=["a"], n=3, max_tokens=20)
    prompt = count_tokens([("user", "hi")], "scripted-1")
    budget = Budget(max_total_tokens=prompt + 59)  # one short of prompt + 3 x 20
    with budget_scope(budget), pytest.raises(BudgetExceeded, match="short by 1"):
        model.invoke([("user", "hi")])


def test_a_failing_call_releases_its_reservation():
    model = ScriptedChatModel(replies=["ok"], fail_on=frozenset({0}), max_tokens=50)
    budget = Budget(max_total_tokens=1_000)
    with budget_scope(budget):
        with pytest.raises(RuntimeError, match="provider error"):
            model.invoke("hi")
        assert budget.remaining.total_tokens == 1_000
        model.invoke("hi")
    assert (budget.spent.calls, budget.spent.failed_calls) == (1, 1)


def test_an_explicit_handler_inside_a_scope_for_the_same_budget_charges_once():
    chain, _ = _chain()
    budget = Budget()
    with budget_scope(budget):
        chain.invoke({"a": 1, "b": 1}, config={"callbacks": [BudgetCallbackHandler(budget)]})
    assert budget.spent.calls == 1


def test_an_explicit_handler_works_without_a_scope():
    chain, _ = _chain()
    budget = Budget(max_calls=1)
    handler = BudgetCallbackHandler(budget)
    chain.invoke({"a": 1, "b": 1}, config={"callbacks": [handler]})
    with pytest.raises(BudgetExceeded, match="max_calls=1"):
        chain.invoke({"a": 1, "b": 1}, config={"callbacks": [handler]})


def test_calls_outside_any_scope_are_not_counted():
    chain, _ = _chain()
    budget = Budget()
    chain.invoke({"a": 1, "b": 1}, config={"callbacks": [BudgetCallbackHandler()]})
    with budget_scope(budget):
        pass
    chain.invoke({"a": 1, "b": 1})
    assert budget.spent.calls == 0


def test_text_llms_are_counted_through_on_llm_start():
    llm = FakeListLLM(responses=["four"])
    budget = Budget(max_calls=1)
    with budget_scope(budget):
        assert llm.invoke("2 + 2 =") == "four"
        with pytest.raises(BudgetExceeded):
            llm.invoke("2 + 2 =")
    assert budget.spent.input_tokens == count_tokens("2 + 2 =")
    assert budget.spent.output_tokens == count_tokens("four")


def test_roles_reach_the_calls_made_by_a_chain():
    chain, _ = _chain()
    budget = Budget()
    with budget_scope(budget):
        chain.invoke({"a": 1, "b": 1})
        with budget_role("verifier"):
            chain.batch([{"a": 1, "b": 1}, {"a": 2, "b": 2}])
    assert {role: line.calls for role, line in budget.spent.by_role.items()} == {"generator": 1, "verifier": 2}


def test_streaming_is_counted():
    model = ScriptedChatModel(replies=["one two three"])
    budget = Budget()
    with budget_scope(budget):
        text = "".join(chunk.content for chunk in model.stream("count"))
    assert text == "one two three"
    assert (budget.spent.calls, budget.spent.input_tokens, budget.spent.output_tokens) == (1, 10, 5)


def test_a_refusal_is_raised_not_logged_as_a_callback_error(caplog):
    chain, _ = _chain()
    with budget_scope(Budget(max_calls=1)), caplog.at_level("WARNING"):
        chain.invoke({"a": 1, "b": 1})
        with pytest.raises(BudgetExceeded):
            chain.invoke({"a": 1, "b": 1})
    assert not [r for r in caplog.records if "BudgetCallbackHandler" in r.getMessage()]


def test_a_handler_for_a_parent_budget_does_not_charge_again_what_a_child_scope_charges():
    chain, _ = _chain()
    parent = Budget()
    child = parent.child()
    with budget_scope(parent), budget_scope(child):
        chain.invoke({"a": 1, "b": 1}, config={"callbacks": [BudgetCallbackHandler(parent)]})
    assert (parent.spent.calls, child.spent.calls) == (1, 1)


def test_a_reply_the_client_raised_about_after_it_arrived_is_charged():
    import openai
    from openai.types import CompletionUsage
    from openai.types.chat import ChatCompletion

    usage = CompletionUsage(prompt_tokens=198, completion_tokens=120, total_tokens=318)
    completion = ChatCompletion(id="c", choices=[], created=0, model="m", object="chat.completion", usage=usage)

    class CutModel(ScriptedChatModel):
        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            raise openai.LengthFinishReasonError(completion=completion)

    budget = Budget()
    with budget_scope(budget), pytest.raises(openai.LengthFinishReasonError):
        CutModel(replies=["x"]).invoke("hi")
    assert (budget.spent.calls, budget.spent.input_tokens, budget.spent.output_tokens) == (1, 198, 120)
    assert budget.spent.failed_calls == 0


def test_what_the_server_adds_to_the_prompt_is_learned_and_reserved_from_then_on():
    # The server reports 40 prompt tokens where the messages count 8 (a chat template, a default
    # system message): the first call can overshoot its reservation, later ones include the gap.
    model = ScriptedChatModel(replies=["4"], input_tokens=40, output_tokens=5, max_tokens=5)
    budget = Budget()
    granted = record_reservations(budget)
    counted = count_tokens([HumanMessage("hi")], "scripted-1")
    with budget_scope(budget):
        model.invoke("hi")
        model.invoke("hi")
        model.batch(["hi", "hi"])
    assert [reservation.input_tokens for reservation in granted] == [counted, 40, 40, 40]


def test_a_call_inside_three_nested_scopes_is_seen_by_one_handler_and_counted_once(monkeypatch):
    from ttc_plugins.langchain import budget_handler

    seen, counted = [], []
    start = BudgetCallbackHandler.on_chat_model_start
    count = budget_handler.count_tokens

    def counting_start(handler, *args, **kwargs):
        seen.append(handler)
        return start(handler, *args, **kwargs)

    def counting_count(*args, **kwargs):
        counted.append(args)
        return count(*args, **kwargs)

    monkeypatch.setattr(BudgetCallbackHandler, "on_chat_model_start", counting_start)
    monkeypatch.setattr(budget_handler, "count_tokens", counting_count)
    outer = Budget(max_total_tokens=10_000)
    model = ScriptedChatModel(replies=["4"])
    with budget_scope(outer), budget_scope(outer.child()), budget_scope(outer.child().child()):
        model.invoke("hi")
    assert len(seen) == 1  # before: one handler per scope, each tokenising the prompt
    assert len(counted) == 1  # the prompt; the reply's usage was reported
    assert outer.spent.calls == 1
