from fractions import Fraction

import pytest

from ttc_plugins.bench.calculator import (
    NotArithmetic,
    calculator_check,
    calculator_verifier,
    evaluate_arithmetic,
    find_expression,
)


@pytest.mark.parametrize(
    ("question", "answer", "right"),
    [
        ("Calculate 9 + 4.", "13", True),
        ("Calculate 9 + 4.", "13.0", True),
        ("Calculate 9 + 4.", "12", False),
        ("Calculate 0 - 5.", "-5", True),
        ("Calculate 0 - 5.", "5", False),
        ("What is (7 - 2) * 3 / 5?", "3", True),
        ("What is 1/3?", "0.3333333333333333", True),
        ("Calculate 9 + 4.", "thirteen", False),
        ("Calculate 9 + 4.", None, False),
    ],
)
def test_compares_the_answer_with_the_value_of_the_question(question, answer, right):
    assert calculator_check(question, answer) is right


def test_evaluates_exactly():
    assert evaluate_arithmetic("0.1 + 0.2") == Fraction(3, 10)
    assert evaluate_arithmetic("-3 - -2") == -1
    assert evaluate_arithmetic("7 // 2 + 7 % 2") == 4


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/ttc-calculator-pwned')",
        "open('/etc/passwd').read()",
        "(1).__class__",
        "x + 1",
        "2 ** 100000000",  # powers are refused: they are how arithmetic eats memory
        "[1, 2] + [3]",
        "'a' + 'b'",
        "1 if 1 else 2",
        "1 / 0",
        "1 +",
        "1" + " + 1" * 200,  # longer than any question needs
    ],
)
def test_refuses_anything_but_plain_arithmetic(text, tmp_path):
    with pytest.raises(NotArithmetic):
        evaluate_arithmetic(text)


def test_refusing_never_runs_the_code(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(NotArithmetic):
        evaluate_arithmetic(f"__import__('pathlib').Path({str(marker)!r}).touch()")
    assert not marker.exists()


def test_finds_the_expression_in_the_question():
    assert find_expression("Calculate 6 - 8 + 9.") == "6 - 8 + 9"
    assert find_expression("Compute (7 - 2) * 3 please") == "(7 - 2) * 3"
    with pytest.raises(NotArithmetic, match="no arithmetic expression"):
        find_expression("Write a poem about the sea.")


def test_the_verifier_scores_the_extracted_answer():
    right = calculator_verifier("Calculate 2 + 8.", "2 + 8 = 10.\nAnswer: 10")
    wrong = calculator_verifier("Calculate 2 + 8.", "Answer: 11")
    assert (right.score, right.is_correct) == (1.0, True)
    assert (wrong.score, wrong.is_correct) == (0.0, False)


def test_the_verifier_fails_a_question_it_cannot_check_without_raising():
    verdict = calculator_verifier("Who wrote Hamlet?", "Answer: Shakespeare")
    assert verdict.score == 0.0
    assert "NotArithmetic" in verdict.critique
