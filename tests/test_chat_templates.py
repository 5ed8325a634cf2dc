import pytest

from ttc_plugins.chat_templates import CHATML, LLAMA3, ChatTemplate, chatml
from ttc_plugins.local import LOCAL_CHAT_TEMPLATE


def test_chatml_leaves_the_assistant_turn_open_with_the_partial_reply_in_it():
    prompt = CHATML.render([("system", "Be brief."), ("user", "2+2?"), ("assistant", "4"), ("user", "3+3?")], "3 + 3")
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n2+2?<|im_end|>\n"
        "<|im_start|>assistant\n4<|im_end|>\n"
        "<|im_start|>user\n3+3?<|im_end|>\n"
        "<|im_start|>assistant\n3 + 3"
    )
    assert not prompt.endswith("<|im_end|>\n")


def test_the_default_system_message_is_added_only_when_the_conversation_has_none():
    template = chatml("You are SmolLM.")
    assert template.render([("user", "hi")]).startswith(
        "<|im_start|>system\nYou are SmolLM.<|im_end|>\n<|im_start|>user"
    )
    assert "SmolLM" not in template.render([("system", "Be brief."), ("user", "hi")])


def test_the_embedded_model_template_matches_its_gguf_template():
    # the GGUF's Jinja template adds this system message when there is none (read from its metadata)
    expected = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert LOCAL_CHAT_TEMPLATE.render([("user", "hi")]) == expected


def test_llama3_layout():
    assert LLAMA3.render([("user", "hi")], "Hello") == (
        "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello"
    )
    assert "<|eot_id|>" in LLAMA3.stop


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"message": "{content}", "generation_prompt": "A:", "stop": ("x",)}, "must contain {role}"),
        ({"message": "{role}: {content}\n", "generation_prompt": "A:", "stop": ()}, "at least one non-empty"),
        ({"message": "{role}: {content}\n", "generation_prompt": "A:", "stop": ("",)}, "at least one non-empty"),
    ],
)
def test_a_broken_template_fails_when_built(options, message):
    with pytest.raises(ValueError, match=message):
        ChatTemplate(**options)


def test_bad_conversations_are_refused():
    with pytest.raises(ValueError, match="at least one message"):
        CHATML.render([])
    with pytest.raises(ValueError, match="unknown chat role 'tool'"):
        CHATML.render([("tool", "{}")])
