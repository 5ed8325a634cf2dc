"""Token counting that never touches the network.

Counts are used for the pre-call worst case of a reservation, and after a call only where the provider
reports no usage. tiktoken is used when its encoding files are already on disk; otherwise the count
falls back to an approximation (about 3.5 characters per token, deliberately a little high because an
undercount would let a call through that the budget cannot afford).

Where the encoding files are looked for, in order: ``$TIKTOKEN_CACHE_DIR`` (when the user set it),
``$DATA_GYM_CACHE_DIR``, tiktoken's default cache in the temp directory, and the copies that the
``litellm`` package ships (a dependency of DSPy), located without importing litellm. tiktoken itself
would download a missing file with no timeout, so loading runs with downloads switched off.

Example:
    >>> from ttc_plugins.tokens import count_tokens
    >>> count_tokens("hello world") > 0
    True
    >>> count_tokens([{"role": "user", "content": "hi"}]) > count_tokens("hi")
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import math
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["APPROX_CHARS_PER_TOKEN", "count_tokens", "counting_method", "encoding_for"]

APPROX_CHARS_PER_TOKEN = 3.5
DEFAULT_ENCODING = "cl100k_base"
TOKENS_PER_MESSAGE = 3  # OpenAI cookbook estimate: <|start|>role ... <|end|>
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3  # every reply is primed with <|start|>assistant<|message|>
TOKENS_PER_IMAGE = 85  # the low-detail image cost; a floor, not an exact count

# tiktoken caches each encoding file under sha1(<its download URL>). Which file each encoding reads:
_BLOB_BASE = "https://openaipublic.blob.core.windows.net/encodings/"
_ENCODING_FILE = {
    "cl100k_base": "cl100k_base.tiktoken",
    "o200k_base": "o200k_base.tiktoken",
    "o200k_harmony": "o200k_base.tiktoken",
    "p50k_base": "p50k_base.tiktoken",
    "p50k_edit": "p50k_base.tiktoken",
    "r50k_base": "r50k_base.tiktoken",
}

_load_lock = threading.Lock()


def _cache_key(encoding_name: str) -> str:
    return hashlib.sha1((_BLOB_BASE + _ENCODING_FILE[encoding_name]).encode()).hexdigest()


def _candidate_dirs() -> list[Path]:
    dirs = [os.environ.get("TIKTOKEN_CACHE_DIR"), os.environ.get("DATA_GYM_CACHE_DIR")]
    dirs.append(os.path.join(tempfile.gettempdir(), "data-gym-cache"))
    spec = importlib.util.find_spec("litellm")  # looks the package up without importing it (~3 s import)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            dirs.append(os.path.join(location, "litellm_core_utils", "tokenizers"))
    return [Path(d) for d in dirs if d]


def _find_encoding_dir(encoding_name: str) -> Path | None:
    key = _cache_key(encoding_name)
    return next((d for d in _candidate_dirs() if (d / key).is_file()), None)


@contextlib.contextmanager
def _downloads_disabled() -> Iterator[None]:
    """Make tiktoken's file reader refuse URLs, so a bad or missing file can never mean a network call."""
    import tiktoken.load

    original = tiktoken.load.read_file

    def read_local_only(blobpath: str) -> bytes:
        if "://" in blobpath:
            raise OSError(f"ttc_plugins does not download tokenizer files (asked for {blobpath})")
        return original(blobpath)

    tiktoken.load.read_file = read_local_only
    try:
        yield
    finally:
        tiktoken.load.read_file = original


@contextlib.contextmanager
def _cache_dir(directory: Path) -> Iterator[None]:
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(directory)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


@cache
def _load_encoding(encoding_name: str) -> Any | None:
    if encoding_name not in _ENCODING_FILE:
        return None
    try:
        import tiktoken
    except ImportError:
        return None
    directory = _find_encoding_dir(encoding_name)
    if directory is None:
        return None
    # The lock serialises the temporary environment change and the patched reader.
    with _load_lock, _cache_dir(directory), _downloads_disabled():
        try:
            return tiktoken.get_encoding(encoding_name)
        except Exception:  # a corrupt or partial file: count approximately instead
            return None


def _encoding_name_for(model: str | None) -> str:
    if model:
        try:
            import tiktoken

            # A table lookup in tiktoken.model; it needs no files.
            return tiktoken.encoding_name_for_model(model.rsplit("/", 1)[-1])
        except (ImportError, KeyError):
            pass
    return DEFAULT_ENCODING


def encoding_for(model: str | None = None) -> Any | None:
    """The tiktoken ``Encoding`` used for ``model``, or None when no encoding file is on disk.

    Models tiktoken does not know (Llama, SmolLM, ...) are counted with ``cl100k_base`` as an estimate.
    """
    name = _encoding_name_for(model)
    return _load_encoding(name) or (None if name == DEFAULT_ENCODING else _load_encoding(DEFAULT_ENCODING))


def counting_method(model: str | None = None) -> str:
    """Say how ``count_tokens`` counts for ``model``: ``"tiktoken:<encoding>"`` or ``"approximate"``."""
    encoding = encoding_for(model)
    return f"tiktoken:{encoding.name}" if encoding is not None else "approximate"


def _count_text(text: str, encoding: Any | None) -> int:
    if not text:
        return 0
    if encoding is not None:
        return len(encoding.encode_ordinary(text))
    return math.ceil(len(text) / APPROX_CHARS_PER_TOKEN)


def _count_content(content: Any, encoding: Any | None) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return _count_text(content, encoding)
    if isinstance(content, Sequence):
        total = 0
        for part in content:
            if isinstance(part, Mapping):
                kind = part.get("type")
                if kind == "text":
                    total += _count_text(str(part.get("text", "")), encoding)
                elif kind in ("image", "image_url", "input_image"):
                    total += TOKENS_PER_IMAGE
                else:
                    total += _count_text(str(part), encoding)
            else:
                total += _count_content(part, encoding)
        return total
    return _count_text(str(content), encoding)


def _as_message(item: Any) -> tuple[str, Any, str | None]:
    """(role, content, name) from a dict, a LangChain message, a (role, content) pair or a string."""
    if isinstance(item, str):
        return "user", item, None
    if isinstance(item, Mapping):
        return str(item.get("role", "user")), item.get("content"), item.get("name")
    if isinstance(item, tuple) and len(item) == 2:
        return str(item[0]), item[1], None
    if hasattr(item, "content"):  # langchain_core BaseMessage and look-alikes
        return str(getattr(item, "type", "user")), item.content, getattr(item, "name", None)
    return "user", str(item), None


def count_tokens(text_or_messages: Any, model: str | None = None) -> int:
    """Count the tokens of a string or a chat conversation, offline.

    Args:
        text_or_messages: a string; or messages as dicts (``{"role", "content", "name"}``), LangChain
            messages, ``(role, content)`` pairs or strings; or anything with ``to_messages()``
            (a LangChain prompt value).
        model: the model name, to pick the tiktoken encoding; unknown models use ``cl100k_base``.

    Chat messages add the OpenAI cookbook's overhead: 3 tokens per message, 1 per name, and 3 for
    priming the reply.

    Example:
        >>> count_tokens("The answer is 42.", model="gpt-4o") >= 5
        True
    """
    encoding = encoding_for(model)
    if hasattr(text_or_messages, "to_messages"):
        text_or_messages = text_or_messages.to_messages()
    if isinstance(text_or_messages, str):
        return _count_text(text_or_messages, encoding)
    if not isinstance(text_or_messages, Sequence):
        return _count_text(str(text_or_messages), encoding)
    total = REPLY_PRIMING_TOKENS if text_or_messages else 0
    for item in text_or_messages:
        role, content, name = _as_message(item)
        total += TOKENS_PER_MESSAGE + _count_text(role, encoding) + _count_content(content, encoding)
        if name:
            total += TOKENS_PER_NAME + _count_text(str(name), encoding)
    return total
