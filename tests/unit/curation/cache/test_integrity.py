"""Cache integrity: a local copy is checked file by file against its manifest, a sealed safetensors
file against its own digest, and a damaged entry is moved aside for inspection."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from curation.cache.integrity import (
    Damaged,
    check_local_copy,
    file_facts,
    open_safetensors,
    parse_manifest,
    seal_safetensors,
    set_aside,
    sha256,
)


def an_entry(root: Path) -> dict:
    (root / "sub").mkdir(parents=True)
    (root / "weights.bin").write_bytes(b"\x00\x01" * 100)
    (root / "sub" / "config.json").write_text('{"steps": 4}')
    return {"files": file_facts(str(root))}


def test_file_facts_list_every_file_with_its_size_and_sha256(tmp_path):
    manifest = an_entry(tmp_path)
    assert manifest["files"] == {
        "weights.bin": {"size": 200, "sha256": sha256(b"\x00\x01" * 100)},
        "sub/config.json": {"size": 12, "sha256": sha256(b'{"steps": 4}')},
    }


@pytest.mark.parametrize(
    "damage,says",
    [
        (lambda root: (root / "weights.bin").unlink(), "weights.bin is missing"),
        (lambda root: (root / "weights.bin").write_bytes(b"\x00\x01" * 99), "has 198 bytes, the manifest says 200"),
        (lambda root: (root / "sub" / "config.json").write_text('{"steps": 5}'), "does not match its SHA-256"),
    ],
)
def test_a_local_copy_that_lost_shortened_or_altered_a_file_is_damaged(tmp_path, damage, says):
    manifest = an_entry(tmp_path)
    check_local_copy(str(tmp_path), manifest, "cache/warmup/k")  # whole: no error
    damage(tmp_path)
    with pytest.raises(Damaged, match=says) as err:
        check_local_copy(str(tmp_path), manifest, "cache/warmup/k")
    assert str(err.value).startswith("cache/warmup/k: ")


def test_a_manifest_must_be_json_listing_files():
    assert parse_manifest(b'{"files": {}, "key": "k"}', "u")["key"] == "k"
    for data, says in ((b'{"files": {', "not valid JSON"), (b'{"key": "k"}', "lists no files"), (b"\xff", "JSON")):
        with pytest.raises(Damaged, match=says):
            parse_manifest(data, "u")


def test_a_sealed_safetensors_file_opens_only_as_it_was_sealed():
    tensors = {"ramp": torch.arange(4, dtype=torch.float32), "eye": torch.eye(2)}
    data = seal_safetensors(tensors)
    opened = open_safetensors(data, "u")
    assert set(opened) == {"ramp", "eye"} and opened["ramp"].tolist() == [0.0, 1.0, 2.0, 3.0]
    flipped = bytearray(data)
    flipped[-1] ^= 0x01
    with pytest.raises(Damaged, match="do not match their digest"):
        open_safetensors(bytes(flipped), "u")
    from safetensors.torch import save

    with pytest.raises(Damaged, match="carries no digest"):
        open_safetensors(save(tensors), "u")  # unsealed: nothing vouches for it
    for cut in (data[:4], data[:20], b""):
        with pytest.raises(Damaged):
            open_safetensors(cut, "u")


def test_a_damaged_entry_is_moved_under_damaged_with_its_path_kept(tmp_path):
    cache = tmp_path / "cache"
    entry = cache / "warmup" / "k1"
    an_entry(entry)
    moved = set_aside(str(cache), str(entry), "weights.bin is missing")
    assert moved is not None and not entry.exists()
    kept = Path(moved)
    stamp, *where = kept.relative_to(cache / "damaged").parts
    assert where == ["warmup", "k1"] and stamp.endswith(f"-{os.getpid()}")
    assert json.loads((kept / "sub" / "config.json").read_text()) == {"steps": 4}
    assert set_aside(str(cache), str(entry), "already moved by another run") is None
