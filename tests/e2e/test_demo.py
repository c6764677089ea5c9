"""The demo's data: real standard-library text, split without leakage between target and pools."""

from __future__ import annotations

import pandas as pd

from curation.demo import TARGET, write_demo_data


def test_demo_files_are_real_text_without_leakage(tmp_path):
    paths = write_demo_data(str(tmp_path))
    frames = {name: pd.read_parquet(path) for name, path in paths.items()}
    assert (frames["validation"]["family"] == TARGET).all() and (frames["test"]["family"] == TARGET).all()
    for pool in ("pool_a", "pool_b"):
        share = (frames[pool]["family"] == TARGET).mean()
        assert 0.02 < share < 0.2 and len(frames[pool]) > 800
    ids = [set(frame["id"]) for frame in frames.values()]
    assert sum(len(s) for s in ids) == len(set().union(*ids))  # no row in two files
    assert frames["validation"]["response"].str.contains("HTTP|URL|request|server", regex=True).mean() > 0.3
