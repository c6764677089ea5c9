"""A lock per cache entry, so two runs that need the same entry compute it once.

Local caches use `fcntl.flock` on `<cache>/locks/<name>.lock`: the operating system releases it
when the holder exits, however it exits (kill -9 included), so there are no stale locks; the
holder removes the file on release (the locker checks it locked the file that is still there). On S3 a
lock is an object created with a conditional write (`If-None-Match: *`, honoured by AWS S3 and
MinIO): the holder's host, process and time are in it; a lock whose holder is gone (same host,
dead process) or older than `stale_after_s` is broken. On stores that ignore the condition
(rclone's test server) a run only writes a lock it did not see and then reads it back, which
narrows the race to a few milliseconds but cannot close it.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from contextlib import contextmanager
from typing import Callable, Iterator

from curation.errors import EnvironmentFault, InputError
from curation.storage import filesystem, join
from curation.tempfiles import process_alive

POLL_S = 1.0


@contextmanager
def exclusive(
    cache: str, name: str, on_wait: Callable[[], None] | None = None, stale_after_s: float = 6 * 3600
) -> Iterator[None]:
    """Hold the lock `name` of this cache; `on_wait` is called once if another run holds it."""
    url = join(cache, "locks", f"{name}.lock")
    if url.startswith("s3://"):
        with _s3_lock(url, on_wait, stale_after_s):
            yield
        return
    import fcntl

    waited = False
    while True:
        try:
            os.makedirs(os.path.dirname(url), exist_ok=True)
            fd = os.open(url, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the last holder removed the locks folder just now
            continue
        except (NotADirectoryError, FileExistsError):
            if _a_file_in_the_way(os.path.dirname(url)):
                raise InputError("not a folder (a file is in the way)", file=cache, field="--cache") from None
            continue  # the locks folder was removed by its last holder while it was made again: once more
        except OSError as err:  # read-only, or not ours: a run that only reads the cache never gets here
            raise EnvironmentFault(
                f"cannot write to the cache {cache} ({err.strerror}); make it writable or point --cache elsewhere"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait and not waited:
                on_wait()
            waited = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # the holder before us may have removed the file we locked: then lock the new one
            if os.fstat(fd).st_ino == os.stat(url).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        # Remove the file, then release: nothing is left in the cache, and a run that opened the
        # removed file finds it gone after it gets the lock and tries again.
        try:
            os.unlink(url)
        except FileNotFoundError:
            pass
        os.close(fd)
        try:
            os.rmdir(os.path.dirname(url))  # the locks folder, when no other lock is in it
        except OSError:
            pass


@contextmanager
def _s3_lock(url: str, on_wait, stale_after_s: float) -> Iterator[None]:
    fs, path = filesystem(url)
    token = uuid.uuid4().hex
    mine = json.dumps(
        {"token": token, "host": socket.gethostname(), "pid": os.getpid(), "created": time.time()}
    ).encode()
    waited = False
    while True:
        try:
            if not fs.exists(path):
                fs.pipe_file(path, mine, mode="create")
                if json.loads(fs.cat_file(path)).get("token") == token:
                    break
        except FileExistsError:
            pass
        except OSError as err:  # botocore's PreconditionFailed arrives as an OSError subclass
            if "Precondition" not in str(err) and "412" not in str(err):
                raise
        fs.invalidate_cache(path)
        if _stale(fs, path, stale_after_s):
            fs.rm(path)
            continue
        if not waited and on_wait:
            on_wait()
        waited = True
        time.sleep(POLL_S)
    try:
        yield
    finally:
        try:
            if json.loads(fs.cat_file(path)).get("token") == token:
                fs.rm(path)
        except (FileNotFoundError, ValueError):
            pass


def _stale(fs, path: str, stale_after_s: float) -> bool:
    try:
        holder = json.loads(fs.cat_file(path))
    except FileNotFoundError:
        return False  # released meanwhile: try again
    except ValueError:
        return True  # unreadable: a writer died mid-way
    if time.time() - float(holder.get("created", 0)) > stale_after_s:
        return True
    return holder.get("host") == socket.gethostname() and not process_alive(int(holder.get("pid", 0)))


def _a_file_in_the_way(folder: str) -> bool:
    """Whether `folder` or a folder above it is a file (not a race with a holder removing the folder)."""
    while folder and folder != os.path.dirname(folder):
        if os.path.lexists(folder):
            return not os.path.isdir(folder)
        folder = os.path.dirname(folder)
    return False
