import dspy
import pytest
from dspy.utils.dummies import DummyLM

from ttc_plugins import Budget, budget_scope
from ttc_plugins.dspy.prompting import ANALOGICAL_RULE, DRAFT_RULE, Analogical, ChainOfDraft, StepBack
from ttc_plugins.prompts import COD_EXAMPLES, COD_SYSTEM, STEP_BACK_PRINCIPLE_USER


def _system(lm, call=-1):
    return lm.history[call]["messages"][0]["content"]


def _prompt(lm, call=-1):
    return "\n".join(message["content"] for message in lm.history[call]["messages"])


def _draft_lm(*answers):
    return DummyLM([{"reasoning": f"draft for {answer}", "answer": answer} for answer in answers])


def _calls_by_role(budget):
    return {role: line.calls for role, line in budget.spent.by_role.items()}


# ---- chain-of-draft


def test_the_draft_rule_is_the_first_sentence_of_the_cod_prompt():
    assert DRAFT_RULE == "Think step by step, but keep only a minimal draft for each thinking step, five words at most."
    assert COD_SYSTEM.startswith(DRAFT_RULE)


def test_the_draft_rule_is_the_reasoning_fields_description_and_reaches_the_model():
    program = ChainOfDraft("question -> answer")
    assert program.predict.predict.signature.fields["reasoning"].json_schema_extra["desc"] == DRAFT_RULE
    lm = _draft_lm("7")
    with dspy.context(lm=lm):
        prediction = program(question="What is 3 + 4?")
    assert (prediction.reasoning, prediction.answer) == ("draft for 7", "7")
    assert f"1. `reasoning` (str): {DRAFT_RULE}" in _system(lm)


def test_the_built_in_worked_drafts_are_the_demos_by_default():
    program = ChainOfDraft("question -> answer")
    demos = [(d.question, d.reasoning, d.answer) for d in program.predict.predict.demos]
    assert demos == [
        (COD_EXAMPLES[0][0], "24 - 15 = 9; 9 + 8 = 17.", "17"),
        (COD_EXAMPLES[1][0], "distance = speed * time; 60 * 2.5 = 150.", "150"),
        (COD_EXAMPLES[2][0], "3 * 12 = 36; 36 - 10 = 26.", "26"),
    ]
    lm = _draft_lm("7")
    with dspy.context(lm=lm):
        program(question="What is 3 + 4?")
    messages = lm.history[-1]["messages"]
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert COD_EXAMPLES[0][0] in messages[1]["content"]
    assert "24 - 15 = 9; 9 + 8 = 17." in messages[2]["content"]
    assert "What is 3 + 4?" in messages[-1]["content"]


def test_without_few_shot_there_are_no_demos():
    program = ChainOfDraft("question -> answer", few_shot=False)
    assert program.predict.predict.demos == []
    lm = _draft_lm("7")
    with dspy.context(lm=lm):
        program(question="What is 3 + 4?")
    assert [m["role"] for m in lm.history[-1]["messages"]] == ["system", "user"]
    assert DRAFT_RULE in _system(lm)  # zero-shot keeps the rule


def test_own_examples_go_to_the_first_input_and_the_last_output_field():
    program = ChainOfDraft("problem, hint -> steps, solution", examples=[("1 + 1?", "1 + 1 = 2.\n#### 2")])
    [demo] = program.predict.predict.demos
    assert dict(demo) == {"problem": "1 + 1?", "reasoning": "1 + 1 = 2.", "solution": "2"}


@pytest.mark.parametrize(
    "examples, message",
    [([], "at least one"), ([("q", "no marker here")], "#### <answer>"), ([("q",)], "a \\(question, solution\\) pair")],
)
def test_bad_examples_fail_when_the_module_is_built(examples, message):
    with pytest.raises(ValueError, match=message):
        ChainOfDraft("question -> answer", examples=examples)


def test_the_draft_rule_survives_an_instruction_rewrite():
    program = ChainOfDraft("question -> answer")
    predictor = program.predict.predict
    predictor.signature = predictor.signature.with_instructions("Solve the arithmetic problem.")  # as MIPROv2/GEPA do
    lm = _draft_lm("7")
    with dspy.context(lm=lm):
        program(question="What is 3 + 4?")
    assert "Solve the arithmetic problem." in _system(lm)
    assert f"`reasoning` (str): {DRAFT_RULE}" in _system(lm)


def test_bootstrap_few_shot_replaces_the_demos_and_the_rule_survives_save_and_load(tmp_path):
    dspy.configure(lm=_draft_lm(*["4"] * 10))
    trainset = [dspy.Example(question=f"What is {i} + 4 - {i}?", answer="4").with_inputs("question") for i in range(2)]
    optimizer = dspy.BootstrapFewShot(
        metric=lambda example, prediction, trace=None: prediction.answer == example.answer,
        max_bootstrapped_demos=2,
        max_labeled_demos=0,
    )
    compiled = optimizer.compile(ChainOfDraft("question -> answer"), trainset=trainset)
    demos = [(d.question, d.reasoning, d.answer) for d in compiled.predict.predict.demos]
    assert demos == [(example.question, "draft for 4", "4") for example in trainset]
    path = tmp_path / "chain_of_draft.json"
    compiled.save(str(path))
    assert DRAFT_RULE in path.read_text()
    loaded = ChainOfDraft("question -> answer", few_shot=False)
    loaded.load(str(path))
    lm = _draft_lm("4")
    with dspy.context(lm=lm):
        loaded(question="What is 9 + 4 - 9?")
    assert DRAFT_RULE in _system(lm)
    assert all(question in _prompt(lm) for question, _, _ in demos)
    assert COD_EXAMPLES[0][0] not in _prompt(lm)


def test_a_call_changes_nothing_on_the_module():
    program = ChainOfDraft("question -> answer")
    state = program.dump_state()
    with dspy.context(lm=_draft_lm("7")):
        program(question="q")
    assert program.dump_state() == state


async def test_chain_of_draft_runs_async():
    lm = _draft_lm("7")
    with dspy.context(lm=lm):
        prediction = await ChainOfDraft("question -> answer").acall(question="What is 3 + 4?")
    assert prediction.answer == "7"
    assert DRAFT_RULE in _system(lm)


# ---- analogical


def test_analogical_asks_to_recall_a_related_problem_in_the_instructions_and_the_reasoning_field():
    assert ANALOGICAL_RULE.startswith("First recall a related problem you know and explain how it is solved.")
    program = Analogical("question -> answer")
    signature = program.predict.predict.signature
    assert signature.instructions == f"{ANALOGICAL_RULE}\n\nGiven the fields `question`, produce the fields `answer`."
    lm = _draft_lm("7")
    with dspy.context(lm=lm):
        assert program(question="What is 3 + 4?").answer == "7"
    assert f"1. `reasoning` (str): {ANALOGICAL_RULE}" in _system(lm)
    assert _system(lm).count(ANALOGICAL_RULE) == 2


def test_analogicals_rule_survives_an_instruction_rewrite():
    program = Analogical("question -> answer")
    program.predict.predict.signature = program.predict.predict.signature.with_instructions("Be right.")
    lm = _draft_lm("7")
    with dspy.context(lm=lm):
        program(question="q")
    assert f"`reasoning` (str): {ANALOGICAL_RULE}" in _system(lm)


# ---- step-back


def _step_back_lm(principle="Addition combines amounts.", answer="7"):
    return DummyLM([{"principle": principle}, {"reasoning": "3 + 4", "answer": answer}])


def test_step_back_asks_for_the_principle_then_answers_with_it():
    lm = _step_back_lm()
    with dspy.context(lm=lm):
        prediction = StepBack("question -> answer")(question="What is 3 + 4?")
    assert (prediction.principle, prediction.reasoning) == ("Addition combines amounts.", "3 + 4")
    assert prediction.answer == "7"
    assert len(lm.history) == 2
    principle_call, answer_call = _prompt(lm, 0), _prompt(lm, 1)
    assert STEP_BACK_PRINCIPLE_USER.split("\n\n")[0] in principle_call
    assert "What is 3 + 4?" in principle_call and "[[ ## answer ## ]]" not in principle_call
    assert "[[ ## principle ## ]]\nAddition combines amounts." in lm.history[1]["messages"][-1]["content"]
    assert "Use this principle to solve the problem." in answer_call


def test_step_back_charges_the_principle_then_the_answer_under_their_roles():
    dspy.configure(lm=_step_back_lm())
    budget = Budget()
    with budget_scope(budget):
        StepBack("question -> answer")(question="What is 3 + 4?")
    assert list(budget.spent.by_role) == ["step_back", "generator"]
    assert _calls_by_role(budget) == {"step_back": 1, "generator": 1}


async def test_step_back_runs_async_and_charges_the_same_roles():
    budget = Budget()
    with dspy.context(lm=_step_back_lm()), budget_scope(budget):  # dspy.configure is refused inside a task
        prediction = await StepBack("question -> answer").acall(question="What is 3 + 4?")
    assert (prediction.principle, prediction.answer) == ("Addition combines amounts.", "7")
    assert _calls_by_role(budget) == {"step_back": 1, "generator": 1}


def test_the_principle_can_come_from_its_own_model():
    dspy.configure(lm=DummyLM([{"reasoning": "3 + 4", "answer": "7"}]))
    program = StepBack("question -> answer")
    program.principle.lm = DummyLM([{"principle": "Sums add."}])
    assert program(question="What is 3 + 4?").principle == "Sums add."
    assert len(program.principle.lm.history) == len(dspy.settings.lm.history) == 1


def test_step_back_keeps_every_task_input_and_rejects_its_own_field_name():
    program = StepBack("context, question -> answer")
    assert list(program.principle.signature.input_fields) == ["context", "question"]
    assert list(program.principle.signature.output_fields) == ["principle"]
    assert list(program.answer.predict.signature.input_fields) == ["context", "question", "principle"]
    with pytest.raises(ValueError, match="principle"):
        StepBack("question, principle -> answer")


def test_optimizers_find_every_predictor():
    assert [name for name, _ in ChainOfDraft("question -> answer").named_predictors()] == ["predict.predict"]
    assert [name for name, _ in Analogical("question -> answer").named_predictors()] == ["predict.predict"]
    assert [name for name, _ in StepBack("question -> answer").named_predictors()] == ["principle", "answer.predict"]


def test_step_back_returns_its_run_with_the_spend_of_both_calls():
    budget = Budget()
    with dspy.context(lm=_step_back_lm()), budget_scope(budget):
        prediction = StepBack("question -> answer")(question="What is 3 + 4?")
    result = prediction.ttc_result
    assert (result.answer, result.stop_reason, len(result.candidates)) == ("7", "done", 1)
    assert result.output.principle == "Addition combines amounts."
    assert {role: line.calls for role, line in result.spend.by_role.items()} == {"step_back": 1, "generator": 1}
    assert result.spend.total_tokens == budget.spent.total_tokens > 0


def test_step_back_passes_both_steps_to_the_callers_trace():
    with dspy.context(lm=_step_back_lm(), trace=[]):
        StepBack("question -> answer")(question="What is 3 + 4?")
        traced = [predictor for predictor, _, _ in dspy.settings.trace]
    assert len(traced) == 2 and "principle" in traced[0].signature.output_fields
    assert "principle" in traced[1].signature.input_fields
