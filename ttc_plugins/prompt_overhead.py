"""What a server adds to every prompt that the pre-call count cannot see, learned per model.

A server renders the messages with its chat template and may add a default system message:
llama.cpp's server adds SmolLM2's ("You are a helpful AI assistant named SmolLM, ...") and its
ChatML tokens, so a prompt counted at 11–18 tokens was reported at 34–41. A reservation built on the
counted prompt alone is then not a worst case, and calls admitted at a limit overshoot it.

Two sources close the gap:

- **a known chat template**: :meth:`PromptOverheads.seed_from_template` counts what the template adds
  around a message (the local clients do this for the embedded model);
- **reported usage**: after every call whose provider reports its prompt tokens, the difference
  reported − counted is remembered (the largest seen, per prompt), and later reservations add it.

So only the first call to an unknown model can overshoot, by what its server adds. The table is
process-wide (a server's template does not change between budgets) and holds one number per model.

Example:
    >>> overheads = PromptOverheads()
    >>> overheads.allowance("my-model")
    0
    >>> overheads.learn("my-model", counted=12, reported=35)
    >>> overheads.allowance("my-model")
    23
    >>> overheads.learn("my-model", counted=20, reported=30)  # a smaller gap never lowers it
    >>> overheads.allowance("my-model")
    23
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ttc_plugins.tokens import count_tokens

if TYPE_CHECKING:
    from ttc_plugins.chat_templates import ChatTemplate

__all__ = ["PromptOverheads", "prompt_overheads"]


class PromptOverheads:
    """Tokens per prompt that a model's server adds beyond the counted messages, by model name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._per_model: dict[str, int] = {}

    def allowance(self, model: str | None) -> int:
        """The tokens to add to each counted prompt for ``model`` (0 when nothing is known)."""
        if model is None:
            return 0
        with self._lock:
            return self._per_model.get(model, 0)

    def learn(self, model: str | None, *, counted: int, reported: int, prompts: int = 1) -> None:
        """Remember the gap between a reported prompt size and the counted one (per prompt)."""
        if model is None or prompts < 1:
            return
        gap = -(-(reported - counted) // prompts)  # rounded up: an allowance must not undershoot
        if gap <= 0:
            return
        with self._lock:
            if gap > self._per_model.get(model, 0):
                self._per_model[model] = gap

    def clear(self) -> None:
        """Forget everything learned (tests start from a clean table)."""
        with self._lock:
            self._per_model.clear()

    def seed_from_template(self, model: str, template: ChatTemplate) -> None:
        """Start ``model``'s allowance at what ``template`` adds around one user message.

        Example:
            >>> from ttc_plugins.chat_templates import chatml
            >>> overheads = PromptOverheads()
            >>> overheads.seed_from_template("m", chatml("You are a helpful assistant."))
            >>> overheads.allowance("m") > 0
            True
        """
        message = "What is 2 + 2?"
        rendered = count_tokens(template.render([("user", message)]), model)
        self.learn(model, counted=count_tokens([("user", message)], model), reported=rendered)


prompt_overheads = PromptOverheads()
"""The process-wide table the budget hooks consult before a call and teach after it."""
