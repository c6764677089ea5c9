"""The demo's data and base model: real standard-library text, split without leakage between target and
pools, and a base model that never saw the target family."""

from __future__ import annotations

import pandas as pd

from curation.demo import TARGET, build_demo_model, corpus, pretraining_texts, write_demo_data


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


def test_the_base_model_pretrains_on_every_family_but_the_target():
    rows = corpus()
    target = set(rows.loc[rows["family"] == TARGET, "response"])
    texts = pretraining_texts()
    assert len(texts) == int((rows["family"] != TARGET).sum()) > 1000
    assert not any(text.split("\n", 1)[1] in target for text in texts)  # "Explain <name>.\n" + the paragraph
    assert rows["id"].is_unique and rows["response"].str.len().between(60, 600).all()


def test_a_demo_model_already_built_is_reused_not_built_again(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    assert build_demo_model(str(model), pretrain_steps=1) == str(model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no model.partial staged
