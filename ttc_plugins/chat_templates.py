"""Chat templates: a conversation as the raw prompt text a model was trained on, open for continuation.

A chat API closes the assistant's turn before the model writes; a raw text-completions endpoint
(``/v1/completions`` on llama.cpp, vLLM, Ollama, TGI) writes straight after whatever prompt it gets.
Rendering the conversation with the model's own chat template and appending the assistant's partial
text, with no end-of-turn after it, makes the model continue its own words: the assistant prefill that
budget forcing needs on servers whose chat endpoint cannot continue a message.

The template must be the one the model was trained with (see its ``tokenizer_config.json`` or the
GGUF metadata ``tokenizer.chat_template``): a wrong one still runs but degrades every answer.
:data:`CHATML` covers the ChatML family (SmolLM2, Qwen2/2.5, many fine-tunes), :data:`LLAMA3` Meta's
Llama 3.x instruct models; build a :class:`ChatTemplate` for any other.

Example:
    >>> print(CHATML.render([("user", "What is 3 + 4?")], partial="3 + 4 = 7. Wait"))
    <|im_start|>user
    What is 3 + 4?<|im_end|>
    <|im_start|>assistant
    3 + 4 = 7. Wait
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CHATML", "LLAMA3", "ChatTemplate", "chatml"]

_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class ChatTemplate:
    """How one model family lays out a conversation as text.

    Args:
        message: the layout of one finished message, with ``{role}`` and ``{content}``.
        generation_prompt: what opens the assistant's turn (the model writes after it).
        prefix: text at the very start of the prompt (e.g. a begin-of-text token).
        default_system: the system message the model's template adds when the conversation has none.
        stop: end-of-turn strings; a completions call stops at them so the model does not write the
            next turn itself.

    Raises:
        ValueError: ``message`` lacks ``{role}`` or ``{content}``, or ``stop`` is empty.
    """

    message: str
    generation_prompt: str
    prefix: str = ""
    default_system: str | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for field in ("{role}", "{content}"):
            if field not in self.message:
                raise ValueError(f"ChatTemplate.message must contain {field}, got {self.message!r}")
        if not self.stop or not all(isinstance(text, str) and text for text in self.stop):
            raise ValueError(f"ChatTemplate.stop needs at least one non-empty end-of-turn string, got {self.stop!r}")

    def render(self, messages: Sequence[tuple[str, str]], partial: str = "") -> str:
        """The prompt text for ``messages`` with the assistant's turn open and ``partial`` already in it.

        Args:
            messages: ``(role, content)`` pairs; roles are "system", "user" and "assistant".
            partial: the start of the assistant's reply, which the model continues.

        Raises:
            ValueError: no messages, or an unknown role.
        """
        if not messages:
            raise ValueError("a chat template needs at least one message")
        parts = [self.prefix]
        if self.default_system is not None and messages[0][0] != "system":
            parts.append(self.message.format(role="system", content=self.default_system))
        for role, content in messages:
            if role not in _ROLES:
                raise ValueError(f"unknown chat role {role!r}; expected one of {', '.join(_ROLES)}")
            parts.append(self.message.format(role=role, content=content))
        parts.append(self.generation_prompt)
        parts.append(partial)
        return "".join(parts)


def chatml(default_system: str | None = None) -> ChatTemplate:
    """The ChatML layout (``<|im_start|>role ... <|im_end|>``), with the model's default system message if any.

    Example:
        >>> chatml("You are terse.").render([("user", "Hi")]).splitlines()[:2]
        ['<|im_start|>system', 'You are terse.<|im_end|>']
    """
    return ChatTemplate(
        message="<|im_start|>{role}\n{content}<|im_end|>\n",
        generation_prompt="<|im_start|>assistant\n",
        default_system=default_system,
        stop=("<|im_end|>", "<|im_start|>"),
    )


CHATML = chatml()
"""ChatML without a default system message (Qwen2.5's template adds its own; use :func:`chatml` for it)."""

LLAMA3 = ChatTemplate(
    message="<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>",
    generation_prompt="<|start_header_id|>assistant<|end_header_id|>\n\n",
    stop=("<|eot_id|>", "<|start_header_id|>"),
)
"""Meta Llama 3.x instruct models (no ``<|begin_of_text|>``: completions servers add the BOS token themselves)."""
