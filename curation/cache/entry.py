"""One cache-entry contract: an entry type says what its key hashes, how its value is built, and how a
verified entry becomes the value again; `obtain` does the rest, the same way for every cache.

Two forms of entry:
- a *directory* (`DirectoryEntry`): the files `build` writes into a local folder, uploaded under
  `<cache>/<folder>/<key>/`, then `manifest.json` last, listing each file's size and SHA-256 and the
  facts `build` returned, with their SHA-256 too. A folder without a manifest was left by a killed
  run and is never read.
  Small values (a calibration, a method choice) are directories with no file: the manifest is the value.
- a *sealed file* (`SealedFile`): one file that carries its own digest (a row-score shard, a
  gradient shard), written atomically: its presence is its completion marker.

`obtain(entry, cache)`: look the entry up and verify it; if it is absent, take the entry's lock, look
again (the run we waited for may have built it), build, write, and read it back through the same
verification. An entry that fails verification (a file missing, cut short, altered, unparseable) is
set aside under `<cache>/damaged/` and built again: a cache never hands back a value it cannot vouch for.
"""

from __future__ import annotations

import io
import json
import os
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Iterator, TypeVar

from curation.cache.integrity import (
    MANIFEST,
    Damaged,
    check_local_copy,
    file_facts,
    parse_manifest,
    set_aside,
    sha256,
    warn,
)
from curation.cache.locks import exclusive
from curation.storage import (
    exists,
    filesystem,
    join,
    naming_a_full_disk,
    read_bytes,
    remove,
    write_bytes_atomic,
    write_json_atomic,
)
from curation.tempfiles import temporary_dir

T = TypeVar("T")


@dataclass(frozen=True)
class Stored:
    """A directory entry found in the cache: its URL and manifest; its files read only through here, verified."""

    url: str
    manifest: dict[str, Any]

    @property
    def facts(self) -> dict[str, Any]:
        """What `build` returned when the entry was written."""
        return self.manifest.get("facts") or {}

    def read(self, name: str) -> bytes:
        """One file of the entry, checked against the manifest's size and SHA-256 (Damaged if not)."""
        url = join(self.url, name)
        expected = self.manifest["files"].get(name)
        try:
            data = read_bytes(url)
        except FileNotFoundError:
            raise Damaged(f"{url}: missing") from None
        if expected is None or len(data) != expected.get("size") or sha256(data) != expected.get("sha256"):
            raise Damaged(f"{url}: does not match its size and SHA-256 in the manifest")
        return data

    def read_parquet(self, name: str):
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(self.read(name)))

    @contextmanager
    def local_copy(self) -> Iterator[str]:
        """A local folder holding every file of the entry, each verified."""
        fs, entry = filesystem(self.url)
        with temporary_dir("cache-entry") as local:
            for name in self.manifest["files"]:
                try:
                    os.makedirs(os.path.dirname(f"{local}/{name}"), exist_ok=True)
                    fs.get_file(f"{entry}/{name}", f"{local}/{name}")
                except FileNotFoundError:
                    raise Damaged(f"{self.url}: {name} is missing") from None
            check_local_copy(local, self.manifest, self.url)
            yield local


class Entry(ABC, Generic[T]):
    """What every entry type declares: its folder in the cache, its key, and words for the logs."""

    folder: ClassVar[str]  # under the cache root, e.g. "warmup"
    what: ClassVar[str]  # e.g. "warmup", for "another run is computing this warmup"

    @property
    @abstractmethod
    def key(self) -> str:
        """The hash of everything the value depends on (built in curation.cache.keys)."""

    def url(self, cache: str) -> str:
        return join(cache, self.folder, self.key)

    def lock_name(self) -> str:
        return f"{self.folder}-{self.key}".replace("/", "-")


class DirectoryEntry(Entry[T]):
    """An entry of files and a manifest written last."""

    @abstractmethod
    def build(self, local: str) -> dict[str, Any]:
        """Compute the value: write its files into the empty folder `local`; return the facts to keep
        in the manifest (JSON)."""

    @abstractmethod
    def open(self, stored: Stored, built: bool) -> T:
        """The value of a verified entry (`built`: this process wrote it just now). Raise Damaged when
        the content does not make a value."""


class SealedFile(Entry[T]):
    """An entry of one file that carries its own digest."""

    @abstractmethod
    def build(self) -> bytes:
        """Compute the value and return the sealed file's bytes."""

    @abstractmethod
    def open(self, data: bytes, url: str) -> T:
        """The value of the file's bytes, or Damaged if they fail their digest."""


@dataclass(frozen=True)
class Obtained(Generic[T]):
    """An entry's value, whether this run built it, and how many damaged copies were set aside on the way."""

    value: T
    status: str  # "hit" (found in the cache) or "miss" (built by this run)
    damaged: int
    url: str
    manifest: dict[str, Any]  # a directory entry's manifest ({} for a sealed file)


def obtain(entry: Entry[T], cache: str) -> Obtained[T]:
    """The entry's verified value from the cache, or built, written and verified (once, under its lock)."""
    url, damaged = entry.url(cache), 0

    def found() -> tuple[T, dict[str, Any]] | None:
        nonlocal damaged
        try:
            return _look_up(entry, url)
        except Damaged as err:
            set_aside(cache, url, str(err))
            damaged += 1
            return None

    hit = found()
    if hit is None:
        waiting = lambda: warn("another run is computing this %s (%s); waiting for it", entry.what, entry.key[:12])  # noqa: E731
        with exclusive(cache, entry.lock_name(), on_wait=waiting):
            hit = found()
            if hit is None:
                value, manifest = _build(entry, url)
                return Obtained(value, "miss", damaged, url, manifest)
    return Obtained(hit[0], "hit", damaged, url, hit[1])


def look_up(entry: Entry[T], cache: str) -> tuple[T | None, int]:
    """(the entry's verified value if the cache holds it, else None; 1 if a damaged copy was set aside,
    else 0): no lock, no build."""
    url = entry.url(cache)
    try:
        hit = _look_up(entry, url)
    except Damaged as err:
        set_aside(cache, url, str(err))
        return None, 1
    return (None if hit is None else hit[0]), 0


def read_entry(entry: Entry[T], cache: str) -> T | None:
    """The entry's verified value, None if the cache has none; Damaged (the entry left as it is) if it fails."""
    hit = _look_up(entry, entry.url(cache))
    return None if hit is None else hit[0]


def forget(cache: str, url: str, reason: str) -> None:
    """Set aside an entry found damaged after it was obtained (a file read later failed its check)."""
    set_aside(cache, url, reason)


def _look_up(entry: Entry[T], url: str) -> tuple[T, dict[str, Any]] | None:
    if isinstance(entry, SealedFile):
        try:
            data = read_bytes(url)
        except FileNotFoundError:
            return None
        return entry.open(data, url), {}
    manifest_url = join(url, MANIFEST)
    if not exists(manifest_url):
        return None
    try:
        data = read_bytes(manifest_url)
    except IsADirectoryError:
        raise Damaged(f"{manifest_url}: a directory, not a manifest") from None
    manifest = parse_manifest(data, manifest_url)
    unknown = sorted(set(manifest) - MANIFEST_KEYS)
    if unknown:  # e.g. a flipped bit in a key's name, which could otherwise pass for an older manifest
        raise Damaged(f"{manifest_url}: unknown manifest key {unknown[0]!r}")
    if "facts_sha256" not in manifest:  # written before manifests carried it: rebuilt (a miss, not damage)
        return None
    if manifest.get("key") != entry.key:
        raise Damaged(f"{manifest_url}: written for key {str(manifest.get('key'))[:12]}, not {entry.key[:12]}")
    if manifest.get("facts_sha256") != _facts_digest(manifest.get("facts")):
        raise Damaged(f"{manifest_url}: the facts do not match their SHA-256")
    return entry.open(Stored(url, manifest), built=False), manifest


MANIFEST_KEYS = frozenset({"key", "what", "files", "facts", "facts_sha256"})


def _facts_digest(facts: Any) -> str:
    return sha256(json.dumps(facts, sort_keys=True, allow_nan=True).encode())


def _build(entry: Entry[T], url: str) -> tuple[T, dict[str, Any]]:
    if isinstance(entry, SealedFile):
        data = entry.build()
        write_bytes_atomic(url, data)
        return entry.open(data, url), {}
    remove(url, recursive=True)  # what a killed run left: no manifest, never read
    with temporary_dir("cache-build") as local:
        facts = entry.build(local)
        manifest = {"key": entry.key, "what": entry.what, "files": file_facts(local), "facts": facts}
        manifest["facts_sha256"] = _facts_digest(facts)
        fs, path = filesystem(url)
        try:
            with naming_a_full_disk(url):
                fs.makedirs(path, exist_ok=True)
                for name in manifest["files"]:
                    fs.makedirs(f"{path}/{name}".rsplit("/", 1)[0], exist_ok=True)
                    fs.put_file(os.path.join(local, name), f"{path}/{name}")
            write_json_atomic(join(url, MANIFEST), manifest)
        except BaseException:  # a full disk or an interrupt: no half-written entry stays
            remove(url, recursive=True)
            raise
    return entry.open(Stored(url, manifest), built=True), manifest
