"""The chat demo's data: a ShareGPT target of Python questions, a `messages` test set and pool of
two-exchange conversations (Python and cooking), one pool row with a speaker no table knows."""

from __future__ import annotations

import json

import pandas as pd

from curation.chat_demo import COOKING, PYTHON, as_sharegpt, conversations, write_chat_demo
from curation.formats.chat import Messages, ShareGPT


def test_conversations_take_the_next_pairs_in_turn_cycling():
    two = conversations(PYTHON[:3], turns=2)
    assert len(two) == 3 and [len(chat) for chat in two] == [4, 4, 4]
    assert [turn["content"] for turn in two[2]] == [*PYTHON[2], *PYTHON[0]]  # the last one wraps around
    assert [turn["role"] for turn in two[0]] == ["user", "assistant", "user", "assistant"]


def test_as_sharegpt_writes_the_same_conversation_in_from_value_turns():
    chat = conversations(COOKING[:1])[0]
    share = as_sharegpt(chat)
    assert share == [{"from": "human", "value": COOKING[0][0]}, {"from": "gpt", "value": COOKING[0][1]}]
    assert ShareGPT().normalized(share) == chat


def test_the_demo_files_hold_each_chat_form_and_one_row_to_quarantine(tmp_path):
    paths = write_chat_demo(str(tmp_path / "data"))
    assert sorted(paths) == ["pool", "test", "validation"]
    validation = json.loads((tmp_path / "data" / "validation.json").read_text())  # one JSON array
    assert len(validation) == 6 and all(set(row) == {"conversations"} for row in validation)
    test = pd.read_json(paths["test"], lines=True)
    pool = pd.read_json(paths["pool"], lines=True)
    assert len(test) == 3 and len(pool) == len(PYTHON[6:]) + len(COOKING) + 1
    problems = Messages().facts(pool)["_conversation"].tolist()
    assert problems.count("unknown_role") == 1 and problems.count("") == len(pool) - 1
    asked = {turn["value"] for row in validation for turn in row["conversations"] if turn["from"] == "human"}
    tested = {turn["content"] for chat in test["messages"] for turn in chat if turn["role"] == "user"}
    assert asked.isdisjoint(tested) and asked <= {q for q, _ in PYTHON}
