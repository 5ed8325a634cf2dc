"""A calculator verifier: evaluate the question's arithmetic and compare it with the candidate's answer.

For arithmetic items this is an exact check, so best-of-N with it is close to an oracle: it can only
pick among the samples, but it always knows which are right. The benchmark labels it that way.

The expression is parsed with :mod:`ast` and only numbers, ``+ - * / // %``, unary signs and
parentheses are evaluated; anything else (names, calls, attributes, powers) is refused, so a question
can never make it run code. Results are exact fractions, so ``0.1 + 0.2`` is ``0.3``.

Example:
    >>> calculator_check("Calculate 9 + 4.", "13"), calculator_check("Calculate 9 + 4.", "12")
    (True, False)
    >>> calculator_verifier("Calculate 0 - 5.", "so the answer is... Answer: -5").score
    1.0
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from fractions import Fraction

from ttc_plugins.answers import parse_number
from ttc_plugins.verifiers import programmatic

__all__ = ["NotArithmetic", "calculator_check", "calculator_verifier", "evaluate_arithmetic", "find_expression"]

# A run of digits, operators, brackets and spaces that contains at least one operator between operands.
_EXPRESSION = re.compile(r"[-+(\s]*\(*\s*\d[\d.\s]*(?:\)*\s*(?://|[-+*/%])\s*[-+(\s]*\d[\d.\s]*\)*)+")
_MAX_EXPRESSION_CHARS = 200  # far more than any question needs; bounds parsing work on hostile input

_BINARY: dict[type[ast.operator], Callable[[Fraction, Fraction], Fraction]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[Fraction], Fraction]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class NotArithmetic(ValueError):
    """The text is not plain arithmetic this calculator evaluates (it is refused, never run)."""


def _evaluate(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return Fraction(str(node.value))  # via str: 0.1 is one tenth, not the nearest binary double
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod) and right == 0:
            raise NotArithmetic("division by zero")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    raise NotArithmetic(f"not plain arithmetic: {ast.dump(node)[:80]}")


def evaluate_arithmetic(expression: str) -> Fraction:
    """The exact value of a plain arithmetic expression.

    Raises:
        NotArithmetic: anything but numbers, ``+ - * / // %``, signs and parentheses, or a division by zero.

    Example:
        >>> evaluate_arithmetic("7 - (2 + 8) / 4")
        Fraction(9, 2)
        >>> evaluate_arithmetic("__import__('os').getcwd()")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ttc_plugins.bench.calculator.NotArithmetic: not plain arithmetic: Call(...
    """
    text = expression.strip()
    if len(text) > _MAX_EXPRESSION_CHARS:
        raise NotArithmetic(f"expression longer than {_MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise NotArithmetic(f"not an expression: {text[:80]!r}") from error
    return _evaluate(tree)


def find_expression(question: str) -> str:
    """The longest arithmetic expression in a question's text.

    Raises:
        NotArithmetic: the question holds no expression with an operator.

    Example:
        >>> find_expression("Calculate 9 + 4.")
        '9 + 4'
    """
    found = [match.group(0).strip().rstrip(".") for match in _EXPRESSION.finditer(question)]
    if not found:
        raise NotArithmetic(f"no arithmetic expression in {question[:80]!r}")
    return max(found, key=len).strip()


def calculator_check(question: str, answer: str | None) -> bool:
    """Whether ``answer`` is the value of the arithmetic in ``question``.

    Raises:
        NotArithmetic: the question has no arithmetic this calculator evaluates. (Inside
            :data:`calculator_verifier` that becomes a failed check with the reason as critique.)
    """
    expected = evaluate_arithmetic(find_expression(question))
    if answer is None:
        return False
    value = parse_number(answer)
    if value is None:
        return False
    # The answer arrives as a float ("1/3" -> 0.333...), so compare within rounding error, not exactly.
    return math.isclose(value, float(expected), rel_tol=1e-9, abs_tol=1e-12)


calculator_verifier = programmatic(calculator_check, name="calculator")
"""A verifier for ``best_of_n`` and friends: score 1.0 when the extracted answer is the question's value."""
