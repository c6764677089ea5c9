"""The per-entry lock: one holder at a time, the waiter told once, the lock file gone after release."""

from __future__ import annotations

import threading
import time

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
