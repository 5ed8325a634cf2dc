import math
import shutil
import socket
import types

import pytest
import tiktoken
import tiktoken.registry

from ttc_plugins import tokens
from ttc_plugins.tokens import count_tokens, counting_method


@pytest.fixture
def fresh_loader(monkeypatch, tmp_path):
    """A process in which no encoding is loaded yet and only the test decides where files are."""
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.setattr(tokens.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    real_find_spec = tokens.importlib.util.find_spec
    litellm_dir = _litellm_tokenizer_dir()
    monkeypatch.setattr(
        tokens.importlib.util, "find_spec", lambda name: None if name == "litellm" else real_find_spec(name)
    )
    tokens._load_encoding.cache_clear()
    yield types.SimpleNamespace(tmp=tmp_path, litellm_dir=litellm_dir)
    tokens._load_encoding.cache_clear()


def _litellm_tokenizer_dir():
    spec = tokens.importlib.util.find_spec("litellm")
    return (
        None
        if spec is None
        else tokens.Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    )


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to open a connection or resolve a name is recorded and fails at once."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network is unreachable in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_plain_text_is_counted_with_tiktoken_when_its_files_are_on_disk():
    assert counting_method() == "tiktoken:cl100k_base"
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0


def test_known_models_use_their_own_encoding():
    assert counting_method("gpt-4o") == "tiktoken:o200k_base"
    assert counting_method("openai/gpt-4o") == "tiktoken:o200k_base"
    assert counting_method("SmolLM2-135M-Instruct") == "tiktoken:cl100k_base"


def test_chat_messages_add_the_cookbook_overhead():
    # 3 per message + role ("user" = 1) + content ("hello world" = 2) + 3 to prime the reply
    assert count_tokens([{"role": "user", "content": "hello world"}]) == 9
    # a name adds 1 plus its own tokens ("bob" = 1)
    assert count_tokens([{"role": "user", "content": "hello world", "name": "bob"}]) == 11
    assert count_tokens([]) == 0


def test_every_message_shape_is_counted_the_same():
    class LangChainLike:
        type = "user"
        content = "hello world"
        name = None

    class PromptValueLike:
        def to_messages(self):
            return [LangChainLike()]

    expected = count_tokens([{"role": "user", "content": "hello world"}])
    assert count_tokens([("user", "hello world")]) == expected
    assert count_tokens(["hello world"]) == expected
    assert count_tokens([LangChainLike()]) == expected
    assert count_tokens(PromptValueLike()) == expected


def test_multimodal_content_counts_text_parts_and_a_fixed_cost_per_image():
    parts = [{"type": "text", "text": "hello world"}, {"type": "image_url", "image_url": {"url": "data:..."}}]
    text_only = count_tokens([{"role": "user", "content": "hello world"}])
    assert count_tokens([{"role": "user", "content": parts}]) == text_only + tokens.TOKENS_PER_IMAGE


def test_without_encoding_files_the_count_is_approximate_and_offline(fresh_loader, no_network):
    text = "x" * 70
    assert counting_method() == "approximate"
    assert count_tokens(text) == math.ceil(70 / tokens.APPROX_CHARS_PER_TOKEN) == 20
    assert no_network == []


def test_a_corrupt_cached_file_never_triggers_a_download(fresh_loader, no_network, monkeypatch):
    cache = fresh_loader.tmp / "user-cache"
    cache.mkdir()
    (cache / tokens._cache_key("cl100k_base")).write_bytes(b"not a bpe file")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    assert counting_method() == "approximate"
    assert no_network == []


@pytest.mark.skipif(_litellm_tokenizer_dir() is None, reason="litellm (installed with dspy) ships the encoding files")
def test_a_user_set_tiktoken_cache_dir_is_respected(fresh_loader, no_network, monkeypatch):
    cache = fresh_loader.tmp / "user-cache"
    cache.mkdir()
    key = tokens._cache_key("cl100k_base")
    shutil.copy(fresh_loader.litellm_dir / key, cache / key)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    assert counting_method() == "tiktoken:cl100k_base"
    assert count_tokens("hello world") == 2
    assert no_network == []


@pytest.mark.skipif(_litellm_tokenizer_dir() is None, reason="litellm (installed with dspy) ships the encoding files")
def test_litellm_copies_are_found_without_importing_litellm(monkeypatch):
    import sys

    tokens._load_encoding.cache_clear()
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setattr(tokens.tempfile, "gettempdir", lambda: "/nonexistent-ttc-test-dir")
    was_loaded = "litellm" in sys.modules
    try:
        assert counting_method("gpt-4o") == "tiktoken:o200k_base"
        assert ("litellm" in sys.modules) == was_loaded
    finally:
        tokens._load_encoding.cache_clear()


def test_loading_leaves_the_environment_and_tiktoken_as_they_were(fresh_loader):
    import os

    import tiktoken.load

    reader = tiktoken.load.read_file
    counting_method()
    assert "TIKTOKEN_CACHE_DIR" not in os.environ
    assert tiktoken.load.read_file is reader
