"""The embedded default: real text that is on every machine, a small model built from it.

Rows are paragraphs of the docstrings of Python's standard library, grouped by module family.
The target task is the `web` family (http, urllib, html, ...): validation and test sets are
web paragraphs; the pools mix a few web paragraphs into many from other families. The base
model is a small GPT-2 pretrained on the other families only, so the target domain is new to it.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import random

import pandas as pd

from curation.storage import write_parquet_atomic

TARGET = "web"
FAMILIES = {
    "web": [
        "http.client",
        "http.server",
        "http.cookies",
        "http.cookiejar",
        "urllib.request",
        "urllib.parse",
        "urllib.error",
        "urllib.robotparser",
        "html.parser",
        "html",
        "xmlrpc.client",
        "xmlrpc.server",
        "wsgiref.handlers",
        "wsgiref.simple_server",
        "wsgiref.util",
        "webbrowser",
        "ftplib",
        "socketserver",
    ],
    "email": [
        "email.message",
        "email.parser",
        "email.policy",
        "email.utils",
        "email.header",
        "email.headerregistry",
        "email.mime.text",
        "email.generator",
        "email.feedparser",
        "email.charset",
        "email.contentmanager",
        "mailbox",
        "smtplib",
        "imaplib",
        "poplib",
    ],
    "concurrency": [
        "asyncio.events",
        "asyncio.tasks",
        "asyncio.streams",
        "asyncio.locks",
        "asyncio.queues",
        "asyncio.base_events",
        "asyncio.futures",
        "threading",
        "concurrent.futures._base",
        "concurrent.futures.thread",
        "queue",
        "sched",
        "multiprocessing.pool",
        "multiprocessing.managers",
        "selectors",
    ],
    "text": [
        "string",
        "textwrap",
        "re",
        "difflib",
        "unicodedata",
        "codecs",
        "locale",
        "gettext",
        "shlex",
        "reprlib",
        "pprint",
    ],
    "data": [
        "json",
        "json.decoder",
        "json.encoder",
        "csv",
        "sqlite3",
        "pickle",
        "shelve",
        "configparser",
        "plistlib",
        "tomllib",
        "xml.dom.minidom",
        "xml.etree.ElementTree",
        "base64",
        "struct",
    ],
    "files": [
        "os",
        "pathlib",
        "shutil",
        "glob",
        "fnmatch",
        "tempfile",
        "io",
        "zipfile",
        "tarfile",
        "gzip",
        "bz2",
        "lzma",
        "filecmp",
        "fileinput",
    ],
    "testing": [
        "unittest.case",
        "unittest.mock",
        "unittest.loader",
        "unittest.runner",
        "doctest",
        "pdb",
        "bdb",
        "trace",
        "cProfile",
        "pstats",
        "timeit",
        "traceback",
    ],
    "math": [
        "math",
        "statistics",
        "decimal",
        "fractions",
        "random",
        "numbers",
        "cmath",
        "heapq",
        "bisect",
        "itertools",
        "functools",
        "operator",
    ],
}


def _documented(module) -> list[tuple[str, str]]:
    """(qualified name, docstring) of a module, its public classes, functions and methods."""
    found = [(module.__name__, inspect.getdoc(module))]
    for name, value in sorted(vars(module).items()):
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value) or inspect.isclass(value):
            found.append((f"{module.__name__}.{name}", inspect.getdoc(value)))
        if inspect.isclass(value):
            found += [
                (f"{module.__name__}.{name}.{m}", inspect.getdoc(f))
                for m, f in sorted(vars(value).items())
                if not m.startswith("_") and inspect.isfunction(f)
            ]
    return [(q, d) for q, d in found if d]


def corpus() -> pd.DataFrame:
    """One row per docstring paragraph: family, prompt ('Explain <name>.'), response (the text)."""
    rows, seen = [], set()
    for family, modules in FAMILIES.items():
        for module_name in modules:
            try:
                module = importlib.import_module(module_name)
            except ImportError:  # a module a minimal Python build lacks: the demo goes on without it
                continue
            for qualname, doc in _documented(module):
                for paragraph in doc.split("\n\n"):
                    text = " ".join(paragraph.split())
                    if 60 <= len(text) <= 600 and text not in seen:
                        seen.add(text)
                        rows.append({"family": family, "prompt": f"Explain {qualname}.\n", "response": text})
    frame = pd.DataFrame(rows)
    frame["id"] = [hashlib.sha256(t.encode()).hexdigest()[:16] for t in frame["response"]]
    return frame


def write_demo_data(directory: str, seed: int = 0) -> dict[str, str]:
    """validation, test, pool_a and pool_b Parquet files; returns their paths."""
    rows = corpus()
    rng = random.Random(seed)
    target = rows[rows["family"] == TARGET].sample(frac=1.0, random_state=seed).reset_index(drop=True)
    other = rows[rows["family"] != TARGET].sample(frac=1.0, random_state=seed).reset_index(drop=True)
    n_val, n_test = 120, 150
    split = len(other) // 2
    pool_target = target.iloc[n_val + n_test :]
    half = len(pool_target) // 2
    files = {
        "validation": target.iloc[:n_val],
        "test": target.iloc[n_val : n_val + n_test],
        "pool_a": pd.concat([other.iloc[:split], pool_target.iloc[:half]]),
        "pool_b": pd.concat([other.iloc[split:], pool_target.iloc[half:]]),
    }
    paths = {}
    for name, frame in files.items():
        frame = frame.sample(frac=1.0, random_state=rng.randrange(2**31)).reset_index(drop=True)
        paths[name] = os.path.join(directory, f"{name}.parquet")
        write_parquet_atomic(paths[name], frame[["id", "prompt", "response", "family"]])
    return paths


def pretraining_texts() -> list[str]:
    """Generic text for the base model: every family but the target."""
    rows = corpus()
    rows = rows[rows["family"] != TARGET]
    return [p + r for p, r in zip(rows["prompt"], rows["response"])]


def build_demo_model(directory: str, pretrain_steps: int = 1200) -> str:
    """The demo's base model: a 2-layer, 64-wide GPT-2 pretrained for about a minute and a half on 2 CPU cores."""
    from curation.tinylm import build_model

    if os.path.exists(os.path.join(directory, "config.json")):
        return directory
    staging = directory.rstrip("/") + ".partial"
    build_model(
        staging,
        pretraining_texts(),
        layers=2,
        width=64,
        heads=4,
        context=256,
        pretrain_steps=pretrain_steps,
        batch_size=16,
        lr=3e-3,
    )
    os.replace(staging, directory)
    return directory
