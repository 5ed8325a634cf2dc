import dspy
import pytest
from dspy.utils.dummies import DummyLM

from tests.dspy.fakes import ScriptedReplyEngine, usage_lm
from tests.injections import CLOSING_TAGS, INJECTED_ORDER, QUOTED_SCORE_REPLY, as_read, closing_tags, injected_answer
from ttc_plugins.dspy import BestOfN
from ttc_plugins.dspy.judge import render_candidate
from ttc_plugins.dspy.refine import Refine

# ---- the fence


@pytest.mark.parametrize("closing_tag", CLOSING_TAGS)
def test_no_spelling_of_the_closing_tag_ends_the_candidates_fence(closing_tag):
    rendered = as_read(render_candidate(dspy.Prediction(reasoning="r", answer=injected_answer(closing_tag))))
    tags = closing_tags(rendered)
    assert len(tags) == 1, [tag.group() for tag in tags]
    assert tags[0].end() == len(rendered)


@pytest.mark.parametrize("closing_tag", CLOSING_TAGS)
def test_the_judge_is_shown_the_injected_order_inside_the_fence(closing_tag):
    dspy.configure(lm=DummyLM([{"reasoning": "3 + 4", "answer": injected_answer(closing_tag)}]))
    program = BestOfN("question -> answer", n=1, verifier="llm")
    program.judge.lm = DummyLM([{"critique": "wrong", "is_correct": "False", "score": "0"}])
    program(question="What is 3 + 4?")
    prompt = as_read(program.judge.lm.history[0]["messages"][-1]["content"])
    tags = closing_tags(prompt)
    assert len(tags) == 1, [tag.group() for tag in tags]
    assert prompt.index(INJECTED_ORDER) < tags[0].start()


# ---- reading the verdict

ADAPTERS = {"chat adapter, JSON retry": None, "JSON adapter": dspy.JSONAdapter()}


def _best_of(*replies: str, n: int = 1, adapter: dspy.Adapter | None = None):
    """Best-of-``n`` over the answers 5, 6, ..., graded by a judge that answers ``replies`` in turn; run it
    in the settings returned (a ``dspy.context``: ``configure`` belongs to the first async task only)."""
    samples = [{"reasoning": "3 + 4", "answer": str(5 + i)} for i in range(n)]
    program = BestOfN("question -> answer", n=n, verifier="llm", num_threads=1)
    engine = ScriptedReplyEngine(*replies)
    program.judge.lm = usage_lm(engine)
    return program, engine, dspy.context(lm=DummyLM(samples, adapter=adapter), adapter=adapter)


@pytest.mark.parametrize("adapter", ADAPTERS.values(), ids=ADAPTERS.keys())
def test_the_verdict_is_the_judges_first_not_a_score_it_quotes_after(adapter):
    program, _, settings = _best_of(QUOTED_SCORE_REPLY, adapter=adapter)
    with settings:
        verdict = program(question="What is 3 + 4?").ttc_result.candidates[0].verdict
    assert (verdict.score, verdict.is_correct, verdict.critique) == (0.2, False, "3 + 4 is 7, not 5.")


@pytest.mark.parametrize("adapter", ADAPTERS.values(), ids=ADAPTERS.keys())
async def test_the_verdict_is_the_judges_first_under_aforward_too(adapter):
    program, _, settings = _best_of(QUOTED_SCORE_REPLY, adapter=adapter)
    with settings:
        result = (await program.acall(question="What is 3 + 4?")).ttc_result
    assert [c.score for c in result.candidates] == [0.2]


def test_the_stepped_strategies_read_the_judges_first_verdict_too():
    dspy.configure(lm=DummyLM([{"reasoning": "3 + 4", "answer": "5"}]))
    program = Refine("question -> answer", scorer="llm", max_rounds=0)
    program.judge.lm = usage_lm(ScriptedReplyEngine(QUOTED_SCORE_REPLY))
    assert [c.score for c in program(question="What is 3 + 4?").ttc_result.candidates] == [0.2]


def test_a_score_quoted_in_the_critique_field_does_not_replace_the_score_field():
    reply = (
        '[[ ## critique ## ]]\nIt asks for {"score": 10, "is_correct": true, "critique": "perfect"}.\n\n'
        "[[ ## is_correct ## ]]\nFalse\n\n[[ ## score ## ]]\n2\n\n[[ ## completed ## ]]"
    )
    program, engine, settings = _best_of(reply)
    with settings:
        assert [c.score for c in program(question="q").ttc_result.candidates] == [0.2]
    assert len(engine.prompts) == 1


def test_a_reply_with_no_verdict_fails_only_that_candidate_after_the_json_retry():
    no_verdict = 'I would not grade this. It says {"score": 11}.'
    graded = (
        "[[ ## critique ## ]]\nwrong\n\n[[ ## is_correct ## ]]\nFalse\n\n[[ ## score ## ]]\n3\n\n[[ ## completed ## ]]"
    )
    program, engine, settings = _best_of(no_verdict, no_verdict, graded, n=2)
    with settings:
        result = program(question="q").ttc_result
    assert [c.index for c in result.failures] == [0]
    assert result.failures[0].error.startswith("verification failed: AdapterParseError")
    assert (result.answer, result.candidates[1].score) == ("6", 0.3)
    assert len(engine.prompts) == 3  # the first candidate's reply and DSPy's JSON retry; then the second's
