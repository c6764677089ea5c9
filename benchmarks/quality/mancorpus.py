"""Real text with domains: paragraphs of this machine's man pages, grouped into 20 categories.

Man pages are on every Debian machine (/usr/share/man) and cover unrelated subjects: system
calls, PostgreSQL's client tools, Perl modules, git, the Google Cloud CLI, file formats... A
category is a set of pages (by section and name); a row is one paragraph of running text from a
page, its roff markup stripped. Pages are read in sorted order and paragraphs deduplicated, so
the corpus is the same on every run on a machine.
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import pandas as pd

MAN = Path("/usr/share/man")
MIN_CHARS, MAX_CHARS = 120, 600
PAGES_PER_CATEGORY = 400  # read at most this many pages of a category (gcloud alone has 16,000)


def _name(path: Path) -> str:
    return path.name.split(".")[0].lower()


# category → (section folder, test on the file name); the first category that claims a page keeps it
RULES: list[tuple[str, str, object]] = [
    ("syscalls", "man2", lambda p: True),
    ("postgres", "man1", lambda p: _name(p).startswith(("pg_", "pg", "psql", "createdb", "dropdb", "ecpg"))),
    ("perl", "man3", lambda p: p.name.endswith((".3perl.gz", ".3pm.gz"))),
    ("git", "man1", lambda p: _name(p).startswith("git")),
    ("gcloud", "man1", lambda p: _name(p).startswith("gcloud")),
    ("llvm", "man1", lambda p: _name(p).startswith(("llvm", "clang", "filecheck", "lli", "opt", "llc", "tblgen"))),
    ("openssl", "man1", lambda p: "ssl" in p.name or _name(p).startswith("openssl")),
    ("openssl-api", "man7", lambda p: p.name.endswith(".7ssl.gz")),
    ("perf", "man1", lambda p: _name(p).startswith("perf")),
    ("debian", "man1", lambda p: _name(p).startswith(("dpkg", "apt", "debconf", "deb"))),
    ("systemd", "man1", lambda p: _name(p).startswith(("systemd", "journalctl", "loginctl", "busctl"))),
    ("toolchain", "man1", lambda p: _name(p).startswith(("x86_64", "gcc", "g++", "cpp", "ld", "as", "objdump"))),
    ("pthreads", "man3", lambda p: _name(p).startswith("pthread")),
    ("c-strings", "man3", lambda p: re.match(r"(str|mem|wcs|wmem|mb|wc)", _name(p)) is not None),
    (
        "c-math",
        "man3",
        lambda p: (
            re.match(
                r"(a?sin|a?cos|a?tan|exp|log|pow|sqrt|cbrt|fma|ceil|floor|round|f?abs|"
                r"erf|gamma|lgamma|tgamma|hypot|remainder|fmod|j[01n]|y[01n])",
                _name(p),
            )
            is not None
        ),
    ),
    ("c-types", "man3", lambda p: p.name.endswith((".3type.gz", ".3const.gz", ".3head.gz"))),
    ("c-library", "man3", lambda p: p.name.endswith(".3.gz")),
    ("file-formats", "man5", lambda p: True),
    ("overview", "man7", lambda p: p.name.endswith(".7.gz")),
    ("admin", "man8", lambda p: True),
]


def strip_roff(source: str) -> list[str]:
    """The running-text paragraphs of a roff page: macros dropped (their text arguments kept), escapes removed."""
    paragraphs, current = [], []

    def flush() -> None:
        text = re.sub(r"\s+", " ", " ".join(current)).strip()
        if text:
            paragraphs.append(text)
        current.clear()

    for line in source.splitlines():
        if line.startswith(('.\\"', "'\\\"", ".\\}")):
            continue
        if line.startswith((".", "'")):
            macro, _, rest = line[1:].partition(" ")
            if macro in ("PP", "P", "LP", "TP", "IP", "SH", "SS", "sp", "HP", "RS", "RE", "TH", "nf", "fi", "EX", "EE"):
                flush()
                continue
            if macro in ("B", "I", "BR", "IR", "RB", "RI", "BI", "IB", "SM", "SB"):
                current.append(rest.replace('"', ""))
            continue
        current.append(line)
    flush()
    cleaned = []
    for text in paragraphs:
        text = re.sub(r"\\f(\(..|\[[^\]]*\]|.)", "", text)
        text = re.sub(r"\\\*?\(..|\\\*?\[[^\]]*\]|\\\*.", " ", text)
        text = re.sub(r"\\s[+-]?\d+", "", text)
        text = text.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\").replace("\\ ", " ").replace("\\|", "")
        text = re.sub(r"\\.", "", text)
        text = re.sub(r"\s+", " ", text).strip()
        if MIN_CHARS <= len(text) <= MAX_CHARS and sum(c.isalpha() for c in text) > 0.6 * len(text):
            cleaned.append(text)
    return cleaned


def corpus() -> pd.DataFrame:
    """Every category's paragraphs: columns `text`, `category`, `page`."""
    claimed: dict[Path, str] = {}
    for category, section, test in RULES:
        folder = MAN / section
        if not folder.is_dir():
            continue
        pages = [p for p in sorted(folder.iterdir()) if p.name.endswith(".gz") and p not in claimed and test(p)]
        for page in pages[:PAGES_PER_CATEGORY]:
            claimed[page] = category
    rows, seen = [], set()
    for page, category in claimed.items():
        try:
            with gzip.open(page, "rt", encoding="utf-8", errors="replace") as handle:
                source = handle.read()
        except (OSError, EOFError):
            continue
        if source.startswith(".so "):  # a link to another page
            continue
        for text in strip_roff(source):
            if text not in seen:
                seen.add(text)
                rows.append({"text": text, "category": category, "page": os.path.basename(page)})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    frame = corpus()
    print(frame["category"].value_counts().to_string())
    print(frame.sample(5, random_state=0)["text"].to_string())
