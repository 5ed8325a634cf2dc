"""The local clients' request options, checked without a server (nothing is sent)."""

from ttc_plugins.local import local_chat_model, local_completion_model, local_dspy_lm

LOCAL = "http://127.0.0.1:9/v1"
HOSTED = "https://api.example.com/v1"


def test_local_servers_get_no_hidden_repetition_penalty_and_the_cap_they_read(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    chat = local_chat_model(LOCAL, max_tokens=40)
    assert chat.extra_body == {"repeat_penalty": 1.0, "max_tokens": 40}
    completions = local_completion_model(LOCAL, max_tokens=40)
    assert completions.extra_body == {"repeat_penalty": 1.0} and completions.max_tokens == 40
    lm = local_dspy_lm(LOCAL, max_tokens=40)
    assert lm.kwargs["extra_body"] == {"repeat_penalty": 1.0, "max_tokens": 40}


def test_hosted_apis_get_the_standard_request(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert local_chat_model(HOSTED).extra_body is None
    assert local_completion_model(HOSTED).extra_body is None
    assert "extra_body" not in local_dspy_lm(HOSTED).kwargs


def test_the_grammar_judge_keeps_llama_cpps_repetition_penalty():
    from ttc_plugins.local import local_judge_model

    assert local_judge_model(LOCAL).extra_body["repeat_penalty"] == 1.1


def test_the_callers_own_extra_body_wins():
    chat = local_chat_model(LOCAL, extra_body={"repeat_penalty": 1.1, "top_k": 20})
    assert chat.extra_body == {"repeat_penalty": 1.1, "max_tokens": 256, "top_k": 20}


def test_the_embedded_models_chat_template_is_reserved_from_the_first_call():
    from ttc_plugins.prompt_overhead import prompt_overheads

    local_chat_model(LOCAL)
    local_dspy_lm(LOCAL)
    local_chat_model(LOCAL, model="another-model")
    assert prompt_overheads.allowance("smollm2-135m") > 20  # ChatML tokens + SmolLM2's default system message
    assert prompt_overheads.allowance("openai/smollm2-135m") == prompt_overheads.allowance("smollm2-135m")
    assert prompt_overheads.allowance("another-model") == 0
