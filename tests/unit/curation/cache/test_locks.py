"""The per-entry lock: one holder at a time, the waiter told once, the lock file gone after release."""

from __future__ import annotations

import threading
import time

import pytest

from curation.cache.locks import exclusive


def test_a_second_holder_waits_and_is_told_once(tmp_path):
    cache, order, waits = str(tmp_path), [], []
    held = threading.Event()

    def first():
        with exclusive(cache, "entry"):
            held.set()
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(5)
    with exclusive(cache, "entry", on_wait=lambda: waits.append(1)):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"] and waits == [1]
    assert not (tmp_path / "locks" / "entry.lock").exists()


def test_locks_of_different_entries_do_not_block_each_other(tmp_path):
    with exclusive(str(tmp_path), "a"):
        with exclusive(str(tmp_path), "b", on_wait=lambda: (_ for _ in ()).throw(AssertionError("waited"))):
            pass


def test_a_cache_that_is_a_file_is_bad_input_and_one_that_cannot_be_written_an_environment_fault(tmp_path, monkeypatch):
    import errno

    from curation.errors import EnvironmentFault, InputError

    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(InputError, match="not a folder") as caught:
        with exclusive(str(tmp_path / "afile"), "x"):
            pass
    assert (caught.value.field, caught.value.file) == ("--cache", str(tmp_path / "afile"))

    def read_only(path, *args, **kwargs):  # a read-only mount: what root cannot get from chmod here
        raise OSError(errno.EROFS, "Read-only file system", path)

    monkeypatch.setattr("os.makedirs", read_only)
    with pytest.raises(EnvironmentFault, match="cannot write to the cache .* \\(Read-only file system\\)"):
        with exclusive(str(tmp_path / "cache"), "x"):
            pass
