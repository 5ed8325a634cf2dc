"""Find the final answer in a model's output and decide when two answers are the same.

Voting is only as good as answer matching: "$1,234", "1234.0" and "\\boxed{1234}" must count as one
vote, and "A train leaves at 3pm" must not count as a vote for choice A. Extraction looks for the
strongest signal first (``\\boxed{}``, then an explicit "Answer:" marker, then GSM8K's ``####``, then a
choice letter, then the last number). Comparison tries the normalised strings, then the numbers, then
math equivalence through ``math_verify`` when it is installed (the ``math`` extra). Everything here is
pure standard library otherwise, so strategies can call it from any framework and any thread.

Example:
    >>> from ttc_plugins.answers import extract_answer, group_answers, same_answer
    >>> extract_answer("3 + 4 = 7, so each gets 7 apples. #### 7")
    '7'
    >>> same_answer("$1,234", "1234.0"), same_answer("1/2", "0.5"), same_answer("12", "13")
    (True, True, False)
    >>> group_answers(["7", None, "7.0", "8"])
    [[0, 2], [3]]
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

__all__ = ["AnswerMatcher", "extract_answer", "group_answers", "normalize_answer", "parse_number", "same_answer"]

AnswerMatcher = Callable[[str | None, str | None], bool]
"""Decides whether two extracted answers are the same; pass your own wherever ``same_answer`` is accepted."""

_NUMBER = r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_IN_PROSE = re.compile(rf"(?<![\w.])(?:{_NUMBER})(?:/\d+(?!\d))?")
_PLAIN_NUMBER = re.compile(_NUMBER)
_INTEGER = re.compile(r"-?\d+")
_FRACTION = re.compile(rf"(?P<sign>-?)(?P<num>{_NUMBER})/(?P<den>{_NUMBER})")
_LATEX_FRACTION = re.compile(rf"(?P<sign>-?)\\frac\s*\{{(?P<num>{_NUMBER})\}}\s*\{{(?P<den>{_NUMBER})\}}")
_NUMBER_WITH_UNIT = re.compile(
    rf"(?P<num>{_NUMBER}(?:/\d+)?)\s*(?:%|percent|(?P<unit>[a-z][a-z.]*(?:/[a-z]+|\^?\d)?(?:\s+[a-z]+)?))?"
)
# Words that follow a number without being its unit: keeping them keeps "2 pi" from becoming "2".
_NOT_UNITS = {"and", "or", "to", "of", "pi", "i", "e", "x", "y", "z", "n", "times", "plus", "minus", "over"}

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_WRAPPER = re.compile(r"\\(?:boxed|fbox|text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{")
_MARKER = re.compile(
    r"\b(?:final\s+answer[*_]*\s*(?::|$)|answer[*_]*\s*:|(?:final\s+)?answer\s+(?:is|(?:would|should|will)\s+be)\b)",
    re.IGNORECASE | re.MULTILINE,
)
_SENTENCE_END = re.compile(r"[.!?](?=\s)|(?:,\s*|\s+)(?:because|since)\b", re.IGNORECASE)
_EQUATION_RESULT = re.compile(r"(?:(?<![<>!=])=(?!=)|\bequals\b)\s*([^=<>]*?)\s*$", re.IGNORECASE)
_GSM8K = re.compile(r"####[ \t]*([^\n]*)")
_DELIMITERS = (("$$", "$$"), ("\\(", "\\)"), ("\\[", "\\]"), ("$", "$"))
_LATEX_SPELLINGS = (
    (r"\\[dt]frac", r"\\frac"),
    (r"\\left\b|\\right\b|\\[,;:!]", ""),
    (r"\\ ", " "),
    (r"\{,\}", ","),
    (r"\\([%$])", r"\1"),
    (r"\^\s*\{?\\circ\}?|°", ""),
)
_CURRENCY = re.compile(r"^([-+]?)\s*(?:\$|£|€)\s*(?=[-+.\d])")
# An operator between digits, single-letter variables or brackets: "2x+1" is math, "New York-City" is not.
_LOOKS_LIKE_MATH = re.compile(
    r"[\\^{}_=]|sqrt|\bpi\b|(?:\d|(?<![a-z])[a-z]|\))\s*[-+*/]\s*(?:\d|[a-z](?![a-z])|\()", re.IGNORECASE
)
# math_verify runs without its signal-based timeout (signals only work in the main thread), so input
# that could keep sympy busy for long is not sent to it at all.
_MATH_VERIFY_MAX_CHARS = 300
_math_verify_lock = threading.Lock()  # sympy's and math_verify's caches are not documented as thread-safe


def _balanced_content(text: str, open_brace: int) -> str | None:
    """What lies between the brace at ``open_brace`` and its partner, or None when it is never closed."""
    depth = 0
    for index in range(open_brace, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[open_brace + 1 : index]
    return None


def _tidy(text: str) -> str:
    """Strip whitespace, markdown emphasis and trailing sentence punctuation, however they nest."""
    previous = None
    while text != previous:
        previous = text
        text = text.strip().strip("*_`").strip().rstrip(".,;:!?")
        if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
            text = text[1:-1]  # small models quote their answer: "The answer is '10'"
        elif _PLAIN_NUMBER.fullmatch(text.strip("\"'")):
            text = text.strip("\"'")  # ... or copy one quote of "'Answer: <answer>'": 10' or '10
        elif len(text) > 1 and (text[0], text[-1]) in (("\u201c", "\u201d"), ("\u2018", "\u2019")):
            text = text[1:-1]
    return text


def _last_boxed(text: str) -> str | None:
    for match in reversed(list(_BOXED.finditer(text))):
        content = _balanced_content(text, match.end() - 1)
        if content is not None and content.strip():
            return _tidy(content)
    return None


def _after_last_marker(text: str) -> str | None:
    markers = list(_MARKER.finditer(text))
    if not markers:
        return None
    rest = text[markers[-1].end() :]
    line, _, following = rest.partition("\n")
    if not _tidy(line):
        # "Final Answer:" alone on its line: the answer is on the next line with any letter or digit,
        # which skips display-math fences such as "$$" or "\[".
        line = next((candidate for candidate in following.splitlines() if re.search(r"\w", candidate)), "")
    line = _tidy(line).lstrip("*_: ")
    answer = _tidy(_SENTENCE_END.split(line, maxsplit=1)[0])
    # "The answer is: 5 + 8 = 13" or "x = 5" -> the result after the last "=" (or "equals").
    result = _EQUATION_RESULT.search(answer)
    if result and _tidy(result.group(1)):
        answer = _tidy(result.group(1))
    return answer or None


def _choice_pattern(choices: str | Sequence[str]) -> str:
    letters = sorted({str(choice).strip() for choice in choices if str(choice).strip()}, key=len, reverse=True)
    return "|".join(re.escape(letter) for letter in letters)


def _as_choice(content: str, choices: str | Sequence[str]) -> str | None:
    """The choice named by ``content`` when it is only a choice ("(B)", "B) Paris", "B."), else None."""
    letters = _choice_pattern(choices)
    # After a marker a lone letter is a choice in either case; "a dog" is kept out by what must follow.
    match = re.match(rf"\(?({letters})(?:[.):]|$)", content, re.IGNORECASE) if letters else None
    return _canonical_choice(match.group(1), choices) if match else None


def _canonical_choice(found: str, choices: str | Sequence[str]) -> str:
    return next((str(c).strip() for c in choices if str(c).strip().casefold() == found.casefold()), found)


def _last_choice(text: str, choices: str | Sequence[str]) -> str | None:
    """The last letter that stands alone as a choice; "A" as an article in prose does not count."""
    letters = _choice_pattern(choices)
    if not letters:
        return None
    if re.fullmatch(letters, whole := _tidy(text).strip("()")):
        return _canonical_choice(whole, choices)
    # "(b)" in either case, but a bare letter only as given, so that "pick a number" is not choice A.
    standalone = re.compile(
        rf"\(((?i:{letters}))\)|(?i:\b(?:option|choice|choose|select|pick)\s+(?:is\s+)?)\(?({letters})\b"
        rf"|(?<![\w(])({letters})\)|\b({letters})\.(?!\w)|\*\*({letters})\*\*"
    )
    matches = list(standalone.finditer(text))
    return _canonical_choice(next(g for g in matches[-1].groups() if g), choices) if matches else None


def extract_answer(text: str | None, *, choices: str | Sequence[str] | None = None) -> str | None:
    """Find the final answer in a model's output, as written (see :func:`normalize_answer` to compare).

    Looks, in order, for the last ``\\boxed{...}`` (or ``\\fbox``); the last "Final Answer:", "Answer:",
    "The answer is" marker (the rest of its line, or the next line when that is empty); the last GSM8K
    ``#### ...``; when ``choices`` is given (``"ABCD"`` or ``["A", "B"]``), the last letter that stands
    alone as a choice; and finally the last number. With ``choices``, an answer that is a choice such
    as "(B)" or "B) Paris" comes back as the bare choice.

    Args:
        text: the model's output; None or text without an answer gives None.
        choices: the choice labels of a multiple-choice question, or None.

    Example:
        >>> extract_answer("The answer is $\\\\boxed{\\\\frac{1}{2}}$.")
        '\\\\frac{1}{2}'
        >>> extract_answer("**Final Answer:** 42 apples.")
        '42 apples'
        >>> extract_answer("A train leaves at 3pm. I pick (C).", choices="ABCD")
        'C'
    """
    if not text or not text.strip():
        return None
    found = _last_boxed(text) or _after_last_marker(text)
    if found is None:
        gsm8k = [_tidy(match.group(1)) for match in _GSM8K.finditer(text)]
        found = next((answer for answer in reversed(gsm8k) if answer), None)
    if choices:
        if found is not None:
            return _as_choice(found, choices) or found
        found = _last_choice(text, choices)
    if found is None:
        numbers = _NUMBER_IN_PROSE.findall(text)
        found = _tidy(numbers[-1]) if numbers else None
    return found


def _unwrap(text: str) -> str:
    """Replace each ``\\text{...}``, ``\\boxed{...}`` (and similar) by its content."""
    search_from = 0
    while match := _WRAPPER.search(text, search_from):
        content = _balanced_content(text, match.end() - 1)
        if content is None:
            search_from = match.end()
            continue
        text = text[: match.start()] + content + text[match.end() + len(content) + 1 :]
    return text


def _canonical_number(number: str) -> str:
    number = number.replace(",", "")
    if "/" in number:
        return number
    try:
        value = Decimal(number)
        if value == 0:
            return "0"  # also turns "-0" and "0.00" into "0"
        value = value.normalize()
    except ArithmeticError:  # an exponent beyond what Decimal can hold
        return number
    return format(value, "f") if abs(value.adjusted()) <= 50 else str(value).lower()


def normalize_answer(answer: str | None) -> str | None:
    """The canonical form of an answer, for comparing by string; None for None or an empty answer.

    Removes math delimiters (``$...$``, ``\\(...\\)``, ``\\[...\\]``), unwraps ``\\text{}``,
    ``\\mathrm{}`` and ``\\boxed{}``, drops a leading currency sign, a trailing unit word or ``%``,
    thousands separators and trailing punctuation, case-folds, collapses whitespace, writes numbers in
    plain decimal form, and turns a choice such as "(B)" into "b". Free text is otherwise left alone.

    Example:
        >>> normalize_answer("$\\\\$1,234.50$"), normalize_answer("40%"), normalize_answer(" New  York ")
        ('1234.5', '40', 'new york')
    """
    if answer is None:
        return None
    text, previous = answer, None
    while text != previous:  # peel nested wrappers such as "$\boxed{\text{5}}$" one layer per pass
        previous = text
        text = _tidy(text)
        for opening, closing in _DELIMITERS:
            if len(text) > len(opening) + len(closing) and text.startswith(opening) and text.endswith(closing):
                text = text[len(opening) : -len(closing)]
                break
        text = _unwrap(text)
        for pattern, replacement in _LATEX_SPELLINGS:
            text = re.sub(pattern, replacement, text)
        text = _CURRENCY.sub(r"\1", text.strip())
    text = " ".join(text.casefold().split())
    if not text:
        return None
    if choice := re.fullmatch(r"\(([a-z])\)", text):
        return choice.group(1)
    number = _NUMBER_WITH_UNIT.fullmatch(text)
    if number and not (number.group("unit") and number.group("unit").split()[0].rstrip(".") in _NOT_UNITS):
        return _canonical_number(number.group("num"))
    return text


def _value(normalized: str) -> float | None:
    value = None
    try:
        if _PLAIN_NUMBER.fullmatch(normalized):
            value = float(Decimal(normalized.replace(",", "")))
        elif fraction := (_FRACTION.fullmatch(normalized) or _LATEX_FRACTION.fullmatch(normalized)):
            quotient = Decimal(fraction.group("num").replace(",", "")) / Decimal(fraction.group("den").replace(",", ""))
            value = float(quotient) * (-1 if fraction.group("sign") else 1)
    except ArithmeticError:  # a zero denominator, or an exponent beyond what Decimal can hold
        return None
    return value if value is not None and math.isfinite(value) else None


def parse_number(answer: str | None) -> float | None:
    """The numeric value of an answer that is a single number, else None.

    Understands integers, decimals, scientific notation, thousands separators, fractions ("3/4",
    "\\frac{3}{4}", "-1/2"), and a number with a unit or ``%`` (the number itself).

    Example:
        >>> parse_number("\\\\frac{3}{4}"), parse_number("-1/2"), parse_number("40%"), parse_number("Paris")
        (0.75, -0.5, 40.0, None)
    """
    normalized = normalize_answer(answer)
    return None if normalized is None else _value(normalized)


@cache
def _math_verify() -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    """math_verify's ``parse`` and ``verify``, imported on first use (it is slow), or None when absent."""
    try:
        from math_verify import parse, verify
    except Exception:  # not installed, or broken: comparison simply goes without it
        return None

    # We switch its timeouts off on purpose (see same_answer); its warning about that is noise to users.
    def drop_timeout_warning(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Timeout is disabled")

    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(drop_timeout_warning)
    return parse, verify


def _as_math(answer: str) -> str:
    answer = _tidy(answer)
    return answer if answer.startswith(("$", "\\(", "\\[")) else f"${answer}$"


@lru_cache(maxsize=4096)  # votes compare the same few strings over and over, and sympy is slow
def _math_equal(a: str, b: str) -> bool:
    functions = _math_verify()
    if functions is None or max(len(a), len(b)) > _MATH_VERIFY_MAX_CHARS:
        return False
    parse, verify = functions
    try:
        with _math_verify_lock:
            parsed_a = parse(_as_math(a), parsing_timeout=None)
            parsed_b = parse(_as_math(b), parsing_timeout=None)
            # verify treats its first argument as the gold answer; asking both ways keeps us symmetric.
            return bool(
                verify(parsed_a, parsed_b, timeout_seconds=None) or verify(parsed_b, parsed_a, timeout_seconds=None)
            )
    except Exception:
        return False


def same_answer(a: str | None, b: str | None, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    """Decide whether two extracted answers say the same thing; the default :data:`AnswerMatcher`.

    True when the normalised strings are equal; else, when both are numbers, when they are close
    (``math.isclose`` with ``rel_tol`` and ``abs_tol``, so "0.5", "1/2" and "\\frac{1}{2}" agree; two
    different integers never are, so 1000000 and 1000001 stay two answers);
    else, when either looks like math and ``math_verify`` is installed, when it finds them equivalent
    (e.g. "\\sqrt{4}" and "2"). A missing answer (None) is never the same as anything, not even None.

    Example:
        >>> same_answer("$12.50", "12.5"), same_answer("Paris", "paris."), same_answer(None, None)
        (True, True, False)
    """
    normalized_a, normalized_b = normalize_answer(a), normalize_answer(b)
    if normalized_a is None or normalized_b is None:
        return False
    if normalized_a == normalized_b:
        return True
    value_a, value_b = _value(normalized_a), _value(normalized_b)
    if value_a is not None and value_b is not None:
        if _INTEGER.fullmatch(normalized_a) and _INTEGER.fullmatch(normalized_b):
            return False  # different integers, written exactly: there is no rounding to forgive
        return math.isclose(value_a, value_b, rel_tol=rel_tol, abs_tol=abs_tol)
    if _LOOKS_LIKE_MATH.search(a) or _LOOKS_LIKE_MATH.search(b):
        return _math_equal(*sorted((a.strip(), b.strip())))
    return False


def group_answers(answers: Sequence[str | None], same: AnswerMatcher = same_answer) -> list[list[int]]:
    """Group the indices of equivalent answers, for voting.

    Each answer joins the first group whose first member it matches (one comparison per group, so
    grouping costs answers × groups calls of ``same``); None answers join no group. Groups are in the
    order of their first member, and each lists its indices in order.

    Example:
        >>> group_answers(["4", "four", "4.0", None], same=lambda a, b: a[0] == b[0])
        [[0, 2], [1]]
    """
    groups: list[list[int]] = []
    for index, answer in enumerate(answers):
        if answer is None:
            continue
        group = next((group for group in groups if same(answers[group[0]], answer)), None)
        if group is None:
            groups.append([index])
        else:
            group.append(index)
    return groups
