"""The cache-entry contract: an entry type defined here, outside the package, gets look-up, locking,
verification and the rebuild of a damaged entry from `obtain` alone; no code outside the cache
package takes a lock or writes a manifest."""

from __future__ import annotations

import ast
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from curation.cache.entry import DirectoryEntry, SealedFile, Stored, obtain
from curation.cache.integrity import Damaged, open_safetensors, seal_safetensors

ROOT = Path(__file__).resolve().parents[4]


@dataclass(frozen=True)
class Squares(DirectoryEntry[list]):
    """A test-only entry: the squares of 0..n-1 in `values.json`, built slowly enough to race."""

    n: int
    calls: list = field(default_factory=list)
    folder = "squares"
    what = "table of squares"

    @property
    def key(self) -> str:
        return f"n{self.n}"

    def build(self, local: str) -> dict[str, Any]:
        self.calls.append(threading.get_ident())
        time.sleep(0.3)
        Path(local, "values.json").write_text(json.dumps([i * i for i in range(self.n)]))
        return {"n": self.n}

    def open(self, stored: Stored, built: bool) -> list:
        values = json.loads(stored.read("values.json"))
        if len(values) != stored.facts["n"]:
            raise Damaged(f"{stored.url}: {len(values)} values, not {stored.facts['n']}")
        return values


@dataclass(frozen=True)
class Ramp(SealedFile[dict]):
    """A test-only sealed file: one tensor."""

    calls: list = field(default_factory=list)
    what = "ramp"
    folder = "ramps"

    @property
    def key(self) -> str:
        return "ramp.safetensors"

    def build(self) -> bytes:
        import torch

        self.calls.append(1)
        return seal_safetensors({"ramp": torch.arange(6, dtype=torch.float32)})

    def open(self, data: bytes, url: str) -> dict:
        return open_safetensors(data, url)


def test_an_entry_is_built_once_then_found_verified(tmp_path):
    entry = Squares(5)
    first, again = obtain(entry, str(tmp_path)), obtain(entry, str(tmp_path))
    assert (first.status, again.status, len(entry.calls)) == ("miss", "hit", 1)
    assert first.value == again.value == [0, 1, 4, 9, 16] and again.manifest["facts"] == {"n": 5}
    assert (tmp_path / "squares" / "n5" / "manifest.json").exists()
    assert not (tmp_path / "locks").exists(), "the lock is gone once the entry is written"


DAMAGE = {
    "value cut short": lambda entry: (entry / "values.json").write_text("[0, 1, 4"),
    "value altered, same size": lambda entry: (entry / "values.json").write_text(
        (entry / "values.json").read_text().replace("16", "17")
    ),
    "value deleted": lambda entry: (entry / "values.json").unlink(),
    "manifest cut short": lambda entry: (entry / "manifest.json").write_text('{"key": "n5", "fil'),
    "facts edited": lambda entry: (entry / "manifest.json").write_text(
        (entry / "manifest.json").read_text().replace('"n": 5', '"n": 4')
    ),
    "another key's manifest": lambda entry: (entry / "manifest.json").write_text(
        (entry / "manifest.json").read_text().replace('"key": "n5"', '"key": "n6"')
    ),
    "manifest a directory": lambda entry: (entry / "manifest.json").unlink() or (entry / "manifest.json").mkdir(),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_entry_is_set_aside_and_rebuilt(tmp_path, damage):
    entry = Squares(5)
    obtain(entry, str(tmp_path))
    DAMAGE[damage](tmp_path / "squares" / "n5")
    rebuilt = obtain(entry, str(tmp_path))
    assert (rebuilt.status, rebuilt.damaged, len(entry.calls)) == ("miss", 1, 2)
    assert rebuilt.value == [0, 1, 4, 9, 16]
    assert list((tmp_path / "damaged").rglob("n5")), "kept for inspection"
    assert obtain(entry, str(tmp_path)).status == "hit"


def test_an_entry_written_before_manifests_carried_a_digest_of_their_facts_is_rebuilt_as_a_miss(tmp_path):
    """An upgrade's first run rebuilds such an entry without calling it damaged (nothing to set aside)."""
    entry = Squares(5)
    obtain(entry, str(tmp_path))
    manifest = tmp_path / "squares" / "n5" / "manifest.json"
    older = json.loads(manifest.read_text())
    del older["facts_sha256"]
    manifest.write_text(json.dumps(older))
    rebuilt = obtain(entry, str(tmp_path))
    assert (rebuilt.status, rebuilt.damaged, len(entry.calls)) == ("miss", 0, 2)
    assert not (tmp_path / "damaged").exists() and obtain(entry, str(tmp_path)).status == "hit"


def test_a_manifest_key_changed_by_a_flipped_bit_is_damage_not_an_older_manifest(tmp_path):
    """`facts_sha256` with one bit flipped (`fabts_sha256`, found by the fault properties) reads as a
    manifest from before the digest: it is set aside as damaged and rebuilt."""
    entry = Squares(5)
    obtain(entry, str(tmp_path))
    manifest = tmp_path / "squares" / "n5" / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"facts_sha256"', b'"fabts_sha256"'))
    rebuilt = obtain(entry, str(tmp_path))
    assert (rebuilt.status, rebuilt.damaged, len(entry.calls)) == ("miss", 1, 2)


def test_two_runs_that_need_one_entry_build_it_once(tmp_path):
    entry, results = Squares(7), []
    threads = [threading.Thread(target=lambda: results.append(obtain(entry, str(tmp_path)))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(entry.calls) == 1
    assert sorted(found.status for found in results) == ["hit", "hit", "miss"]
    assert all(found.value == results[0].value for found in results)


def test_an_interrupted_build_leaves_nothing_that_looks_complete(tmp_path):
    @dataclass(frozen=True)
    class Broken(Squares):
        def build(self, local: str) -> dict[str, Any]:
            Path(local, "values.json").write_text("[0, 1")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        obtain(Broken(5), str(tmp_path))
    assert not (tmp_path / "squares" / "n5").exists()
    assert obtain(Squares(5), str(tmp_path)).status == "miss"


def test_a_damaged_sealed_file_is_set_aside_and_rebuilt(tmp_path):
    entry = Ramp()
    assert obtain(entry, str(tmp_path)).status == "miss"
    path = tmp_path / "ramps" / "ramp.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a flipped bit in the tensor data
    path.write_bytes(bytes(data))
    rebuilt = obtain(entry, str(tmp_path))
    assert (rebuilt.status, rebuilt.damaged, len(entry.calls)) == ("miss", 1, 2)
    assert rebuilt.value["ramp"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def _outside_the_cache_package():
    for folder in ("curation", "flows", "tasks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "cache" not in path.relative_to(ROOT).parts[1:2]:
                yield path


def test_no_code_outside_the_cache_package_takes_a_lock_or_writes_a_manifest():
    offences = []
    for path in _outside_the_cache_package():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in ("curation.cache.locks", "curation.cache.integrity"):
                names = {alias.name for alias in node.names} & {"exclusive", "MANIFEST", "file_facts", "set_aside"}
                offences += [f"{path.relative_to(ROOT)}:{node.lineno} imports {name}" for name in sorted(names)]
            if isinstance(node, ast.Constant) and node.value in ("manifest.json", "locks"):
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno} names {node.value!r}")
    assert not offences, offences
    assert len(list(_outside_the_cache_package())) > 40  # the walk found the code
