import pytest

from ttc_plugins.strategies.forcing import ForcingRules, ThinkingController, cut_to_tokens
from ttc_plugins.tokens import count_tokens

LONG = " ".join(f"step {i}: add {i} to the total and check the running sum again." for i in range(40))


def words(text):
    return len(text.split())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_thinking_tokens": -1, "max_waits": 1}, "min_thinking_tokens must be a non-negative integer"),
        ({"max_waits": -2}, "max_waits must be a non-negative integer"),
        ({"max_waits": 1.5}, "max_waits must be a non-negative integer"),
        ({"max_thinking_tokens": 0}, "max_thinking_tokens must be a positive integer or None"),
        ({"max_thinking_tokens": True}, "max_thinking_tokens must be a positive integer or None"),
        ({"max_answer_tokens": -5}, "max_answer_tokens must be a positive integer or None"),
        ({"min_thinking_tokens": 50, "max_thinking_tokens": 40, "max_waits": 1}, r"min_thinking_tokens \(50\) cannot"),
        ({"min_thinking_tokens": 50}, "min_thinking_tokens needs max_waits >= 1"),
        ({"wait": " "}, "wait must be a non-empty string"),
        ({"final_answer": ""}, "final_answer must be a non-empty string"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(options, message):
    with pytest.raises(ValueError, match=message):
        ForcingRules(**options)


def test_a_long_thought_is_cut_at_exactly_the_cap():
    controller = ThinkingController(ForcingRules(max_thinking_tokens=50))
    assert controller.allowance() == 50
    assert controller.add_thinking(LONG) == "answer"
    assert LONG.startswith(controller.thinking)
    assert count_tokens(controller.thinking) == controller.thinking_tokens == 50
    assert count_tokens(LONG[: len(controller.thinking) + 1]) > 50  # the longest prefix that fits
    assert controller.thinking_end == "cap"
    assert controller.answer_prefix == controller.thinking + "\nFinal Answer:"


def test_the_cut_keeps_every_earlier_continuation_and_counts_the_waits():
    rules = ForcingRules(min_thinking_tokens=30, max_thinking_tokens=40, max_waits=3)
    controller = ThinkingController(rules, count=words)
    assert controller.add_thinking("one two three four five") == "think"
    assert controller.thinking == "one two three four five Wait"
    assert (controller.thinking_tokens, controller.allowance()) == (6, 34)
    assert controller.add_thinking(" " + "x " * 100) == "answer"
    assert controller.thinking.startswith("one two three four five Wait x x")
    assert (words(controller.thinking), controller.thinking_tokens, controller.thinking_end) == (40, 40, "cap")


def test_a_short_thinker_gets_exactly_max_waits_waits_then_answers():
    controller = ThinkingController(ForcingRules(min_thinking_tokens=100, max_waits=3), count=words)
    steps = [controller.add_thinking(text) for text in ["a b", "c", "d", "e"]]
    assert steps == ["think", "think", "think", "answer"]
    assert controller.thinking == "a b Waitc Waitd Waite"
    assert (controller.waits, controller.thinking_end) == (3, "waits_used")
    assert [e.data["waits"] for e in controller.events if e.kind == "wait"] == [1, 2, 3]


def test_no_wait_once_the_minimum_is_reached():
    controller = ThinkingController(ForcingRules(min_thinking_tokens=3, max_waits=5), count=words)
    assert controller.add_thinking("a b c") == "answer"
    assert (controller.waits, controller.thinking_end, controller.thinking) == (0, "model_stopped", "a b c")


def test_without_limits_the_first_stop_ends_thinking():
    controller = ThinkingController(ForcingRules(), count=words)
    assert controller.allowance() is None
    assert controller.add_thinking("short") == "answer"
    assert controller.thinking_end == "model_stopped"


def test_a_call_stopped_by_its_output_cap_ends_thinking_without_a_wait():
    controller = ThinkingController(
        ForcingRules(min_thinking_tokens=50, max_thinking_tokens=60, max_waits=2), count=words
    )
    assert controller.add_thinking("a b c", hit_output_cap=True) == "answer"
    assert (controller.waits, controller.thinking_end, controller.thinking_tokens) == (0, "length", 3)


def test_a_wait_that_would_leave_no_room_to_think_is_not_appended():
    controller = ThinkingController(
        ForcingRules(min_thinking_tokens=5, max_thinking_tokens=5, max_waits=2), count=words
    )
    assert controller.add_thinking("a b c d") == "answer"
    assert (controller.thinking, controller.waits, controller.thinking_end) == ("a b c d", 0, "cap")


def test_answer_tokens_are_counted_apart_from_thinking_tokens():
    controller = ThinkingController(ForcingRules(), count=words)
    controller.add_thinking("three plus four is seven.")
    controller.add_answer("7 apples")
    assert (controller.thinking_tokens, controller.answer_tokens) == (5, 2)
    assert controller.text == "three plus four is seven.\nFinal Answer: 7 apples"


def test_the_controller_refuses_steps_out_of_order():
    controller = ThinkingController(ForcingRules(), count=words)
    with pytest.raises(RuntimeError, match="not over"):
        controller.add_answer("7")
    with pytest.raises(RuntimeError, match="not over"):
        controller.answer_prefix  # noqa: B018
    controller.add_thinking("done")
    with pytest.raises(RuntimeError, match="add_answer"):
        controller.add_thinking("more")
    controller.add_answer("7")
    with pytest.raises(RuntimeError, match="already"):
        controller.add_answer("8")


def test_cut_to_tokens_leaves_fitting_text_alone():
    assert cut_to_tokens("short", 10) == "short"
    assert cut_to_tokens("abcdefgh", 3, count=len, keep=2) == "abc"


# ---- the loop, through drive


def _words(text):
    return len(text.split())


class Thinker:
    """Answers ``think`` with ``thoughts`` in turn and ``answer`` with ``answer``; records the payloads."""

    def __init__(self, thoughts, answer="7"):
        from ttc_plugins.strategies.forcing import Continuation

        self.replies = {"think": iter(thoughts), "answer": iter([answer])}
        self.payloads: list[tuple[str, dict]] = []
        self.continuation = Continuation

    def __call__(self, call):
        self.payloads.append((call.target, call.payload))
        reply = next(self.replies[call.target])
        if isinstance(reply, BaseException):
            raise reply
        return reply if not isinstance(reply, str) else self.continuation(reply)


def _forced(thinker, **rules):
    from ttc_plugins.strategies.forcing import forcing_loop
    from ttc_plugins.strategies.steps import drive

    loop = forcing_loop("q", rules=ForcingRules(**rules), output_of=lambda c, reply: c.text, count=_words)
    return drive(loop, thinker)


def test_the_loop_asks_to_think_on_with_the_allowance_left_then_for_the_answer_with_its_cap():
    thinker = Thinker(["one two three", "four five six seven"])
    result = _forced(thinker, min_thinking_tokens=6, max_thinking_tokens=20, max_waits=2, max_answer_tokens=5)
    assert [(target, p["max_tokens"]) for target, p in thinker.payloads] == [
        ("think", 20),
        ("think", 16),
        ("answer", 5),
    ]
    assert thinker.payloads[1][1]["thinking"] == "one two three Wait"
    assert (result.answer, result.stop_reason) == ("7", "done")
    assert result.chosen_candidate.lineage == [(0, 0), (1, 0), (2, 0)]
    assert [e.kind for e in result.events].count("wait") == 1


def test_a_refusal_after_some_thinking_returns_it_with_stop_budget():
    from tests.strategies.stepping import refusal_by
    from ttc_plugins import Budget

    thinker = Thinker(["one two", refusal_by(Budget(max_calls=1))])
    result = _forced(thinker, min_thinking_tokens=6, max_waits=1)
    assert (result.output, result.answer, result.stop_reason) == ("one two Wait", None, "budget")
    assert result.chosen_candidate.lineage == [(0, 0)]


def test_a_refusal_of_the_first_call_or_any_other_failure_is_raised():
    from tests.strategies.stepping import refusal_by
    from ttc_plugins import Budget, BudgetExceeded

    with pytest.raises(BudgetExceeded):
        _forced(Thinker([refusal_by(Budget(max_calls=1))]))
    with pytest.raises(TimeoutError):
        _forced(Thinker(["one two three"], answer=TimeoutError("slow")))


def test_a_refused_answer_returns_the_thinking_unanswered():
    from tests.strategies.stepping import refusal_by
    from ttc_plugins import Budget

    result = _forced(Thinker(["one two three"], answer=refusal_by(Budget(max_calls=1))))
    assert (result.output, result.answer, result.stop_reason) == ("one two three", None, "budget")


def test_rejoining_puts_back_the_space_a_fresh_message_drops():
    from ttc_plugins.strategies.forcing import forcing_loop
    from ttc_plugins.strategies.steps import drive

    rules = ForcingRules(min_thinking_tokens=4, max_waits=1)
    loop = forcing_loop("q", rules=rules, output_of=lambda c, reply: c.thinking, count=_words, rejoin=True)
    assert drive(loop, Thinker(["a b", "c d"])).output == "a b Wait c d"
