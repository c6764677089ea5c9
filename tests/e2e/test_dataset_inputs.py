"""Hugging Face dataset layouts as pools: a `datasets` save_to_disk directory (Arrow shards beside
dataset_info.json and state.json) and a local snapshot of a Hub dataset repository (README.md,
.gitattributes, data/*.parquet) select the same rows as the same rows in one Parquet file,
locally and on the loopback S3 server."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from runs import curate_run


@pytest.fixture(scope="module")
def layouts(text_task, tmp_path_factory):
    """The text task's pool as one Parquet file, a save_to_disk directory and a Hub snapshot."""
    from datasets import Dataset

    root = tmp_path_factory.mktemp("layouts")
    pool = pd.read_parquet(text_task["pool"])
    shutil.copy(text_task["pool"], root / "pool.parquet")
    Dataset.from_pandas(pool, preserve_index=False).save_to_disk(str(root / "saved"), num_shards=2)
    hub = root / "hub"
    (hub / "data").mkdir(parents=True)
    (hub / "README.md").write_text("---\nconfigs:\n- config_name: default\n---\n# a dataset card\n")
    (hub / ".gitattributes").write_text("*.parquet filter=lfs\n")
    (hub / "dataset_infos.json").write_text('{"default": {"features": {}}}')
    half = len(pool) // 2
    pool.iloc[:half].to_parquet(hub / "data" / "train-00000-of-00002.parquet")
    pool.iloc[half:].to_parquet(hub / "data" / "train-00001-of-00002.parquet")
    return root


def _selected(pool: str, text_task, tiny_lm, where) -> list[str]:
    out = where / "out"
    curate_run(
        pool=pool, validation=str(text_task["validation"]), model=tiny_lm, budget=20, out=str(out),
        cache=str(where / "cache"), warmup="fixed", warmup_steps=10, skip_finetune=True,
    )  # fmt: skip
    return pd.read_parquet(out / "selection.parquet")["id"].tolist()


def test_save_to_disk_and_hub_snapshots_select_what_one_parquet_file_selects(
    layouts, text_task, tiny_lm, prefect_api_url, s3_env, tmp_path
):
    assert sorted(p.name for p in (layouts / "saved").iterdir()) == [
        "data-00000-of-00002.arrow", "data-00001-of-00002.arrow", "dataset_info.json", "state.json",
    ]  # fmt: skip
    import fsspec

    # Uploaded through the S3 API: a folder copied behind the server's back stays out of listings
    # that rclone cached earlier in the session (its directory cache lasts 5 minutes).
    fsspec.filesystem("s3").put(f"{layouts}/", f"{s3_env['bucket']}/layouts/", recursive=True)
    expected = _selected(str(layouts / "pool.parquet"), text_task, tiny_lm, tmp_path / "parquet")
    assert len(expected) == 20
    for name in ("saved", "hub"):
        local = _selected(str(layouts / name), text_task, tiny_lm, tmp_path / name)
        remote = f"s3://{s3_env['bucket']}/layouts/{name}/"
        on_s3 = _selected(remote, text_task, tiny_lm, tmp_path / f"{name}-s3")
        assert local == expected and on_s3 == expected, name
