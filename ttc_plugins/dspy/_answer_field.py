"""Which output field of a signature the DSPy strategies compare, vote on and score."""

from __future__ import annotations

from dspy.signatures.signature import Signature

__all__ = ["answer_field_of"]


def answer_field_of(signature: type[Signature], answer_field: str | None) -> str:
    """The given ``answer_field`` (checked against the signature), else the signature's last output field.

    Example:
        >>> import dspy
        >>> answer_field_of(dspy.Signature("question -> reasoning, answer"), None)
        'answer'
    """
    outputs = list(signature.output_fields)
    if answer_field is not None and answer_field not in outputs:
        raise ValueError(f"answer_field {answer_field!r} is not an output field of the signature: {outputs}")
    return answer_field or outputs[-1]
