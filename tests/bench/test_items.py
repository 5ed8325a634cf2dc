import json

import pytest

from ttc_plugins.bench.items import BenchItem, JsonlItemError, arithmetic_items, load_jsonl_items


def write_lines(path, *lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_loads_questions_and_answers_skipping_blank_lines(tmp_path):
    path = write_lines(
        tmp_path / "items.jsonl",
        json.dumps({"question": "What is 2 + 2?", "answer": "4"}),
        "",
        json.dumps({"question": "What is half of 3?", "answer": 1.5, "source": "mine"}),
    )
    items = load_jsonl_items(path)
    assert [(i.index, i.question, i.answer) for i in items] == [
        (0, "What is 2 + 2?", "4"),
        (1, "What is half of 3?", "1.5"),
    ]
    assert items[1].metadata == {"line": 3}


def test_limit_keeps_the_first_items(tmp_path):
    lines = [json.dumps({"question": f"q{i}", "answer": i}) for i in range(5)]
    assert [i.question for i in load_jsonl_items(write_lines(tmp_path / "f.jsonl", *lines), limit=2)] == ["q0", "q1"]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"question": "What is 2 + 2?", "answer": 4', r"items.jsonl:2: not valid JSON"),
        ('["What is 2 + 2?", 4]', r"items.jsonl:2: expected an object .* got list"),
        ('{"question": "What is 2 + 2?"}', r"items.jsonl:2: missing 'answer'"),
        ('{"answer": 4}', r"items.jsonl:2: missing 'question'"),
        ('{"prompt": "x"}', r"items.jsonl:2: missing 'question' and 'answer'"),
        ('{"question": "", "answer": 4}', r"items.jsonl:2: 'question' must be non-empty text"),
        ('{"question": "q", "answer": null}', r"items.jsonl:2: 'answer' must be non-empty text or a number"),
        ('{"question": "q", "answer": true}', r"items.jsonl:2: 'answer' must be non-empty text or a number"),
    ],
)
def test_a_bad_line_is_reported_with_its_line_number(tmp_path, bad_line, message):
    path = write_lines(tmp_path / "items.jsonl", json.dumps({"question": "ok", "answer": 1}), bad_line)
    with pytest.raises(JsonlItemError, match=message):
        load_jsonl_items(path)


def test_a_file_without_items_is_an_error(tmp_path):
    with pytest.raises(JsonlItemError, match="no items"):
        load_jsonl_items(write_lines(tmp_path / "empty.jsonl", "", "  "))


def test_arithmetic_items_are_the_pilot_configuration_and_reproducible():
    items = arithmetic_items(20, seed=2024)
    assert items == arithmetic_items(20, seed=2024)
    assert items != arithmetic_items(20, seed=7)
    assert [i.index for i in items] == list(range(20))
    for item in items:
        a, op, b = item.metadata["expression"].split()
        # reasoning-gym's "one digit" draws from 0..10 inclusive (three of the first 60 items use 10).
        assert op in "+-" and 0 <= int(a) <= 10 and 0 <= int(b) <= 10
        assert int(item.answer) == (int(a) + int(b) if op == "+" else int(a) - int(b))
        assert item.question == f"Calculate {a} {op} {b}."


def test_an_item_checks_answers_numerically():
    item = BenchItem(index=0, question="Calculate 0 - 5.", answer="-5")
    assert item.is_right("-5.0") and not item.is_right("5") and not item.is_right(None)
