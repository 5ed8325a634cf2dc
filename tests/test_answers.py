import threading

import pytest

from ttc_plugins import answers
from ttc_plugins.answers import extract_answer, group_answers, normalize_answer, parse_number, same_answer

GSM8K_OUTPUT = """Natalia sold 48/2 = 24 clips in May.
Natalia sold 48+24 = 72 clips altogether in April and May.
#### 72"""

RAMBLING_OUTPUT = """Okay, let me think step by step.
First, Tom has 5 apples. He buys 3 more, so 5 + 3 = 8.
Then he gives away 2... wait, no, he gets 7 more. 8 + 7 = 15.
So in total he has 15 apples.

Answer: 15"""

MATH_OUTPUT = r"""We have $\frac{6}{8} = \frac{3}{4}$, and we can check that $4 \cdot \frac{3}{4} = 3$.
The answer is $\boxed{\dfrac{3}{4}}$."""

MARKDOWN_OUTPUT = """### Solution
1. Multiply: 6 * 7 = 42
2. Check: 42 / 7 = 6

**Final Answer:** 42"""

DISPLAY_MATH_OUTPUT = """The total is the sum of both parts.

Final Answer:
$$
1,250
$$"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # seen from the embedded 135M model: equations and quotes after the marker
        ("10. The answer is: 5 + 8 = 13", "13"),
        ("Step 1: 9 - 2 = 7. Answer: x = 7", "7"),
        ("8 - 5 = 2. The answer is '10'", "10"),
        ('I\'ll first calculate the sum. The answer is "19."', "19"),
        ("so 8 - 5 equals 3. Answer: 8 - 5 equals 3", "3"),
        ("Answer: a <= b", "a <= b"),  # a comparison is not an equation to take the right side of
        ("Answer: 10'", "10"),  # one quote copied from the prompt's "'Answer: <answer>'"
        ("The answer is '7", "7"),
        # GSM8K style
        (GSM8K_OUTPUT, "72"),
        ("The store made 1,234 dollars.\n#### 1,234", "1,234"),
        ("#### 5\nLet me double check.\n#### 6", "6"),
        # MATH style: \boxed wins over everything, nested braces are kept whole
        (MATH_OUTPUT, r"\dfrac{3}{4}"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"First guess \boxed{3}, but on reflection \boxed{4}.", "4"),
        (r"Answer: 7. Actually, $\fbox{8}$", "8"),
        (r"Final Answer: $\boxed{5}$", "5"),
        (r"We get \boxed{x^{2} + 1} in the end. #### 9", "x^{2} + 1"),
        (r"\boxed{5} and then a truncated \boxed{6", "5"),
        (r"\boxed{} Answer: 3", "3"),
        # explicit markers
        (RAMBLING_OUTPUT, "15"),
        (MARKDOWN_OUTPUT, "42"),
        (DISPLAY_MATH_OUTPUT, "1,250"),
        ("Let me think. 3 + 4 = 7. So the answer is 7.", "7"),
        ("Answer: The answer is 12", "12"),
        ("Answer: 42 apples.", "42 apples"),
        ("answer: 42 apples. That is all I can say.", "42 apples"),
        ("**Answer:** 7", "7"),
        ("**Answer**: 7", "7"),
        ("The answer is: **7**.", "7"),
        ("THE FINAL ANSWER IS 19", "19"),
        ("**Final Answer**\n\n23", "23"),
        ("Final Answer:\n\n   Paris  ", "Paris"),
        ("The answer is 7 because 3 + 4 = 7.", "7"),
        ("The capital of France is Paris, so my answer is Paris.", "Paris"),
        ("Answer: 3.5", "3.5"),
        ("The answer would be -4.", "-4"),
        ("The answer is $\\frac{1}{2}$.", "$\\frac{1}{2}$"),
        ("Answer: 5\n#### 6", "5"),
        # fallback: the last number
        ("There are 3 cats and 12 dogs, 15 animals", "15"),
        ("It costs $1,234.50 in total", "1,234.50"),
        ("The temperature is -5 degrees", "-5"),
        ("Half of the cake is 3/4 of the pie", "3/4"),
        ("So we get 7.", "7"),
        ("between 3-4 hours", "4"),
        ("It is roughly 2.5e3 meters", "2.5e3"),
        # nothing to find
        ("I am not sure how to solve this.", None),
        ("", None),
        ("   \n  ", None),
        (None, None),
        ("#### ", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The correct option is (C).", "C"),
        ("C) Paris", "C"),
        ("B", "B"),
        ("(d)", "D"),
        ("I choose B", "B"),
        ("After comparing them, option D fits best.", "D"),
        ("Looking at the options, the best one is **B**", "B"),
        ("A. 3\nB. 4\nThe sum 1 + 3 is 4, which matches B.", "B"),
        ("Answer: (B)", "B"),
        ("answer: b", "B"),
        ("The answer is C) Paris", "C"),
        (r"\boxed{D}", "D"),
        ("Answer: Paris", "Paris"),  # a marker's content that is not a choice is kept as is
        ("Answer: A dog", "A dog"),
        # the article "A" is not a choice: fall back to the number
        ("A train leaves at 3pm", "3"),
        ("A farmer has 17 sheep. I pick a number: 9", "9"),
        ("A good guess would be hard here.", None),
    ],
)
def test_extract_answer_with_choices(text, expected):
    assert extract_answer(text, choices="ABCD") == expected


def test_choices_as_a_list_and_their_spelling_is_kept():
    assert extract_answer("I'd go with (b).", choices=["A", "B", "C"]) == "B"
    assert extract_answer("I'd go with (B).", choices=["a", "b", "c"]) == "b"
    assert extract_answer("I'd go with (E).", choices=["A", "B", "C"]) is None


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("  42 ", "42"),
        ("$42$", "42"),
        ("$$42$$", "42"),
        (r"\(42\)", "42"),
        (r"\[ 42 \]", "42"),
        (r"\text{Paris}", "paris"),
        (r"\mathrm{Paris}", "paris"),
        (r"\boxed{7}", "7"),
        (r"$\boxed{\text{5}}$", "5"),
        (r"5\text{ cm}", "5"),
        ("$12.50", "12.5"),
        (r"\$5", "5"),
        ("£3", "3"),
        ("€10", "10"),
        ("-$5", "-5"),
        ("1,234", "1234"),
        ("1,234,567.50", "1234567.5"),
        (r"1{,}234", "1234"),
        ("42.", "42"),
        ("Paris.", "paris"),
        ("Paris", "paris"),
        ("New   York City", "new york city"),
        ("3.50", "3.5"),
        ("4.0", "4"),
        ("+7", "7"),
        ("-0", "0"),
        ("0.00", "0"),
        (".5", "0.5"),
        ("1e3", "1000"),
        ("1E-2", "0.01"),
        ("12 apples", "12"),
        ("1,234 apples", "1234"),
        ("12 red apples", "12"),
        ("5 cm", "5"),
        ("5cm", "5"),
        ("40%", "40"),
        ("40 %", "40"),
        (r"40\%", "40"),
        ("40 percent", "40"),
        ("3 dollars", "3"),
        ("7 km/h", "7"),
        (r"90^\circ", "90"),
        ("(B)", "b"),
        ("3/4", "3/4"),
        ("3/4 cup", "3/4"),
        (r"\dfrac{3}{4}", r"\frac{3}{4}"),
        ("2 pi", "2 pi"),  # "pi" is not a unit
        ("5 x", "5 x"),
        ("2 and 3", "2 and 3"),
        ("x = 5", "x = 5"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_normalize_answer(answer, expected):
    assert normalize_answer(answer) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("42", 42.0),
        ("-3.5", -3.5),
        ("1,234.5", 1234.5),
        ("1e3", 1000.0),
        ("2.5E-3", 0.0025),
        ("3/4", 0.75),
        ("-1/2", -0.5),
        (r"\frac{3}{4}", 0.75),
        (r"\dfrac{3}{4}", 0.75),
        (r"-\frac{1}{2}", -0.5),
        (r"$\frac{-1}{2}$", -0.5),
        ("40%", 40.0),
        ("$12.50", 12.5),
        ("12 apples", 12.0),
        ("1/0", None),
        ("1e400", None),  # overflows a float
        ("Paris", None),
        ("inf", None),
        ("nan", None),
        ("1, 2, 3", None),
        ("x^2", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_number(answer, expected):
    assert parse_number(answer) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("42", "42"),
        ("Paris", "paris."),
        ("New York City", " new  york city "),
        ("0.5", "1/2"),
        ("1/2", r"\frac{1}{2}"),
        ("0.5", r"\dfrac{1}{2}"),
        ("1,000", "1000.0"),
        ("$12.50", "12.5"),
        ("40%", "40"),
        ("12 apples", "12"),
        ("(B)", "b"),
        (r"\text{Paris}", "Paris"),
        ("1e3", "1000"),
        ("0.30000000000000004", "0.3"),
        ("-0", "0"),
    ],
)
def test_same_answer(a, b):
    assert same_answer(a, b) is True
    assert same_answer(b, a) is True


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("12", "13"),
        ("paris", "london"),
        (None, None),
        ("7", None),
        (None, "7"),
        ("", ""),
        ("0.5", "0.51"),
        ("1000000", "1000001"),  # different integers, even where rel_tol would call them close
        ("1/3", "0.333"),
        ("(B)", "(C)"),
        ("12 apples", "13 apples"),
    ],
)
def test_not_same_answer(a, b):
    assert same_answer(a, b) is False
    assert same_answer(b, a) is False


def test_tolerances_are_respected():
    assert same_answer("0.333333333", "1/3") is True
    assert same_answer("0.333", "1/3") is False
    assert same_answer("0.333", "1/3", rel_tol=1e-2) is True
    assert same_answer("1.0", "1.05", abs_tol=0.1) is True
    assert same_answer("1.0", "1.05") is False


class TestMathVerify:
    @pytest.fixture(autouse=True)
    def _needs_math_verify(self):
        pytest.importorskip("math_verify")

    @pytest.mark.parametrize(
        ("a", "b", "expected"),
        [
            (r"\sqrt{4}", "2", True),
            (r"2\sqrt{2}", r"\sqrt{8}", True),
            ("x^2+2x+1", "(x+1)^2", True),
            ("2x+1", "1+2x", True),
            (r"\frac{\pi}{2}", r"\pi/2", True),
            (r"\{1,2\}", r"\{2,1\}", True),
            ("x^2", "x^3", False),
            (r"\sqrt{2}", "1.414", False),
            (r"\pi", "3.14159", False),
            (r"\sqrt{4}", "3", False),
        ],
    )
    def test_latex_equivalence(self, a, b, expected):
        assert same_answer(a, b) is expected
        assert same_answer(b, a) is expected

    def test_works_from_a_worker_thread(self):
        # math_verify's default timeouts use signals, which raise outside the main thread.
        results = []
        worker = threading.Thread(target=lambda: results.append(same_answer(r"\sqrt{9}", "3")))
        worker.start()
        worker.join()
        assert results == [True]

    def test_long_input_is_not_sent_to_math_verify(self):
        padding = " + 0" * 100
        assert same_answer(r"\sqrt{4}" + padding, "2") is False


def test_without_math_verify_latex_falls_back_to_strings_and_numbers(monkeypatch):
    monkeypatch.setattr(answers, "_math_verify", lambda: None)
    answers._math_equal.cache_clear()
    try:
        assert same_answer(r"\sqrt{4}", "2") is False
        assert same_answer(r"\frac{1}{2}", "0.5") is True  # numeric, needs no math_verify
    finally:
        answers._math_equal.cache_clear()


def test_math_verify_errors_mean_not_the_same(monkeypatch):
    def broken_parse(*args, **kwargs):
        raise RuntimeError("sympy blew up")

    monkeypatch.setattr(answers, "_math_verify", lambda: (broken_parse, broken_parse))
    answers._math_equal.cache_clear()
    try:
        assert same_answer("x^2+2x+1", "(x+1)^2") is False
    finally:
        answers._math_equal.cache_clear()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["7", None, "7.0", "8", r"\frac{14}{2}", "eight"], [[0, 2, 4], [3], [5]]),
        (["Paris", "paris.", "London", r"\text{London}", "Rome"], [[0, 1], [2, 3], [4]]),
        ([None, None], []),
        ([], []),
        (["", ""], [[0], [1]]),  # an empty answer matches nothing, not even itself
    ],
)
def test_group_answers(values, expected):
    assert group_answers(values) == expected


def test_group_answers_with_a_custom_matcher_compares_with_the_first_member():
    calls = []

    def same_first_letter(a, b):
        calls.append((a, b))
        return a[0].casefold() == b[0].casefold()

    fruit = ["apple", "Avocado", "banana", None, "blueberry", "cherry", "apricot"]
    groups = group_answers(fruit, same=same_first_letter)
    assert groups == [[0, 1, 6], [2, 4], [5]]
    assert ("apple", "apricot") in calls
    assert ("Avocado", "apricot") not in calls  # only the group's first member is compared
    assert len(calls) == 7


def test_public_names():
    assert answers.__all__ == sorted(answers.__all__)
    assert set(answers.__all__) == {
        "AnswerMatcher",
        "extract_answer",
        "group_answers",
        "normalize_answer",
        "parse_number",
        "same_answer",
    }
