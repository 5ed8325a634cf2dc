import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from tests.langchain.fakes import ScriptedChatModel
from ttc_plugins import AllCandidatesFailed, Budget, BudgetExceeded, TTCResult, budget_scope
from ttc_plugins.langchain import best_of_n, self_consistency
from ttc_plugins.strategies.select import AdaptiveStop

PROMPT = ChatPromptTemplate.from_messages([("user", "What is {a} + {b}?")])


def _model(replies, **options):
    return ScriptedChatModel(replies=replies, **options)


def test_wrapping_a_chain_returns_the_majority_output_in_the_chains_own_type():
    model = _model(["Answer: 8", "Answer: 7", "so it is 7.", "Answer: 9", "7"])
    solver = self_consistency(PROMPT | model | StrOutputParser(), n=5)
    assert solver.invoke({"a": 3, "b": 4}, {"max_concurrency": 1}) == "Answer: 7"
    assert model.calls == 5


def test_the_full_result_shows_every_candidate_its_votes_and_the_spend():
    model = _model(["Answer: 8", "Answer: 7", "so it is 7.", "Answer: 9", "7"])
    result = (
        self_consistency(PROMPT | model | StrOutputParser(), n=5)
        .with_result()
        .invoke({"a": 3, "b": 4}, {"max_concurrency": 1})
    )
    assert isinstance(result, TTCResult)
    assert [c.answer for c in result.candidates] == ["8", "7", "7", "9", "7"]
    assert [c.votes for c in result.candidates] == [1, 3, 3, 1, 3]
    assert (result.answer, result.chosen, result.stop_reason) == ("7", 1, "done")
    assert (result.spend.calls, result.spend.input_tokens, result.spend.output_tokens) == (5, 50, 25)


def test_samples_run_in_parallel_up_to_max_concurrency():
    model = _model(["Answer: 1"], delay=0.05)
    self_consistency(model, n=8, use_provider_n=False).invoke("q", {"max_concurrency": 3})
    assert model.calls == 8
    assert model.peak_active == 3


def test_callbacks_tags_and_metadata_reach_every_sample():
    class Recorder(BaseCallbackHandler):
        def __init__(self):
            self.model_runs = []
            self.metadata = []
            self.chain_runs = {}

        def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, name=None, **kwargs):
            self.chain_runs[run_id] = (name, parent_run_id)

        def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id, tags, metadata, **kwargs):
            self.model_runs.append((parent_run_id, tags, metadata.get("user")))
            self.metadata.append({k: v for k, v in metadata.items() if k.startswith("ttc_")})

    recorder = Recorder()
    solver = self_consistency(_model(["Answer: 1"]), n=3, use_provider_n=False)
    solver.invoke("q", {"callbacks": [recorder], "tags": ["exp-7"], "metadata": {"user": "ada"}})
    strategy_run = next(run for run, (name, _) in recorder.chain_runs.items() if name == "self_consistency")
    assert len(recorder.model_runs) == 3
    # each sample is a run named after its role under the strategy's run, which holds the model run
    assert all(recorder.chain_runs[parent] == ("generator", strategy_run) for parent, _, _ in recorder.model_runs)
    assert len({parent for parent, _, _ in recorder.model_runs}) == 3
    assert all("exp-7" in tags and user == "ada" for _, tags, user in recorder.model_runs)
    # and says what it was for: the family, the role and target, the step and which call of it
    assert sorted(m["ttc_call"] for m in recorder.metadata) == [0, 1, 2]
    assert {(m["ttc_family"], m["ttc_role"], m["ttc_target"], m["ttc_step"]) for m in recorder.metadata} == {
        ("self_consistency", "generator", "generate", 0)
    }


async def test_progress_goes_out_as_custom_events_while_the_run_goes():
    solver = best_of_n(_model(["Answer: 1", "Answer: 2"]), verifier=lambda q, c: 0.5, n=2, use_provider_n=False)
    events = [e async for e in solver.astream_events("q", version="v2") if e["event"] == "on_custom_event"]
    progress = [e["data"] for e in events if e["name"] == "ttc_progress"]
    assert [(p["event"], p.get("role")) for p in progress] == [
        ("call_done", "generator"), ("call_done", "generator"),
        ("call_done", "verifier"), ("call_done", "verifier"),
        ("finish", None),
    ]  # fmt: skip
    assert progress[-1] == {"event": "finish", "chosen": 0, "score": 0.5, "stop_reason": "done"}


def test_each_candidate_gets_its_own_samples_tokens_even_from_a_text_chain():
    model = _model(["Answer: 8", "Answer: 7", "Answer: 7"])  # 10 input and 5 output tokens per call
    result = self_consistency(PROMPT | model | StrOutputParser(), n=3).with_result().invoke({"a": 3, "b": 4})
    assert [(c.input_tokens, c.output_tokens) for c in result.candidates] == [(10, 5)] * 3
    assert result.spend.total_tokens == 45  # counted once: the per-sample budgets are children of the run's


def test_the_budget_stops_sampling_and_the_vote_uses_what_was_affordable():
    model = _model(["Answer: 5", "Answer: 6", "Answer: 5"])
    budget = Budget(max_calls=8)
    with budget_scope(budget):
        _model(["earlier work"]).invoke("q")  # a shared budget: 7 calls are left of its 8
        _model(["earlier work"]).batch(["q"] * 4)  # ... then 3
        result = self_consistency(model, n=8, use_provider_n=False).with_result().invoke("q", {"max_concurrency": 1})
    assert model.calls == 3
    assert result.stop_reason == "budget"
    assert result.answer == "5"
    assert [c.budget_refused for c in result.candidates] == [False] * 3 + [True] * 5
    assert (budget.spent.calls, result.spend.calls) == (8, 3)


def test_a_budget_too_small_for_one_sample_raises_naming_the_limit():
    budget = Budget(max_total_tokens=5)
    with budget_scope(budget), pytest.raises(BudgetExceeded, match="max_total_tokens=5") as refused:
        self_consistency(_model(["Answer: 1"], max_tokens=20), n=4).invoke("q")
    assert refused.value.shortfall > 0


def test_failed_samples_are_reported_and_the_survivors_vote():
    model = _model(["Answer: 2", "Answer: 3", "Answer: 3", "Answer: 2", "Answer: 2"], fail_on=frozenset({1, 2}))
    result = self_consistency(model, n=5, use_provider_n=False).with_result().invoke("q", {"max_concurrency": 1})
    assert result.answer == "2"
    assert [c.index for c in result.failures] == [1, 2]
    assert result.failures[0].error == "RuntimeError: provider error on call 1"


def test_when_every_sample_fails_the_first_failure_is_in_the_error():
    model = _model(["x"], fail_on=frozenset(range(10)))
    with pytest.raises(AllCandidatesFailed, match="first failure: RuntimeError: provider error on call 0"):
        self_consistency(model, n=3, use_provider_n=False).invoke("q", {"max_concurrency": 1})


def test_a_provider_that_honours_n_is_asked_once():
    model = _model(["Answer: 1", "Answer: 2", "Answer: 1", "Answer: 1"], max_tokens=10)
    budget = Budget()
    with budget_scope(budget):
        result = self_consistency(model, n=4).with_result().invoke("q")
    assert model.calls == 1
    assert [c.answer for c in result.candidates] == ["1", "2", "1", "1"]
    assert budget.spent.calls == 1
    assert budget.spent.output_tokens == 20  # the request's usage, once, not once per choice


def test_a_provider_that_ignores_n_is_checked_and_topped_up_then_not_asked_again():
    model = _model(["Answer: 1"], honour_n=False)
    solver = self_consistency(model, n=4)
    first = solver.with_result()  # a copy shares nothing: check the original learns on its own
    assert len(first.invoke("q").candidates) == 4
    assert len(solver.with_result().invoke("q").candidates) == 4
    calls_before = model.calls
    solver.invoke("q")  # has learned that n is ignored: four single requests, no n request
    solver.invoke("q")
    assert model.calls - calls_before == 1 + 3 + 4  # one more try with n on this instance, then single samples


def test_adaptive_stops_once_the_vote_cannot_change():
    model = _model(["Answer: 4"])
    result = self_consistency(model, n=10, adaptive=True, use_provider_n=False).with_result().invoke("q")
    assert result.stop_reason == "converged"
    assert len(result.candidates) == model.calls == 7  # 3, 5, 7: at 7 the lead exceeds the 3 left


def test_adaptive_beta_rule_stops_earlier():
    model = _model(["Answer: 4"])
    rule = AdaptiveStop(rule="beta", confidence=0.9, min_samples=3)
    result = self_consistency(model, n=10, adaptive=rule, wave_size=1, use_provider_n=False).with_result().invoke("q")
    assert len(result.candidates) == 3  # P(leader | 3-0) = 0.9375


async def test_ainvoke_and_abatch():
    model = _model(["Answer: 3", "Answer: 3", "Answer: 4"])
    solver = self_consistency(PROMPT | model | StrOutputParser(), n=3).with_result()
    result = await solver.ainvoke({"a": 1, "b": 2}, {"max_concurrency": 1})
    assert result.answer == "3"
    results = await solver.abatch([{"a": 1, "b": 2}, {"a": 2, "b": 2}])
    assert [len(r.candidates) for r in results] == [3, 3]
    assert model.calls == 9


def test_it_composes_as_a_node_of_a_bigger_chain():
    chain = PROMPT | self_consistency(_model(["Answer: 12"]), n=2) | StrOutputParser()
    assert chain.invoke({"a": 5, "b": 7}) == "Answer: 12"


@pytest.mark.parametrize("n", [0, -1, 2.5])
def test_bad_n_is_rejected_when_the_wrapper_is_built(n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        self_consistency(_model(["x"]), n=n)


def _tool_with_its_own_cap(model):
    """A sample whose chain calls a tool model under its own capped budget; every other sample's tool
    needs two calls and hits the cap."""
    from itertools import count

    from langchain_core.runnables import RunnableLambda

    from ttc_plugins import current_budget

    numbers = count()

    def sample(question):
        with budget_scope(current_budget().child(max_calls=1, name="tool")):
            reply = model.invoke(question)
            if next(numbers) % 2:
                model.invoke(question)  # refused by the tool's own cap, not by the run's budget
        return reply.content

    return RunnableLambda(sample)


def test_a_refusal_from_a_samples_own_nested_budget_fails_that_sample_not_the_run():
    model = ScriptedChatModel(replies=["Answer: 4"])
    budget = Budget(max_total_tokens=100_000)
    with budget_scope(budget):
        result = (
            self_consistency(_tool_with_its_own_cap(model), n=8, adaptive=False)
            .with_result()
            .invoke("q", {"max_concurrency": 1})
        )
    # Before: the first nested refusal was taken for the run's budget running out (stop at 2 of 8).
    assert (result.stop_reason, len(result.candidates), result.answer) == ("done", 8, "4")
    failed = [c for c in result.candidates if c.error]
    assert len(failed) == 4 and not any(c.budget_refused for c in failed)
    assert "max_calls=1 of budget 'tool'" in failed[0].error
