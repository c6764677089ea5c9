"""Caches that are never wrong: every option that changes a cached value is in its key, and a damaged
entry (cut short, bit-flipped, deleted, swapped) is set aside and rebuilt to the fresh result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from runs import curate_run, on_task


def _run(labelled_task, out: Path, cache: Path, **options) -> dict:
    params = dict(
        **on_task(labelled_task), budget=100, out=str(out), cache=str(cache), skip_finetune=True, shard_rows=600
    )
    return curate_run(**{**params, **options})


def _outputs(out: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(out / name) for name in ("scores.parquet", "selection.parquet")}


def _assert_same_outputs(a: Path, b: Path) -> None:
    for name, frame in _outputs(a).items():
        pd.testing.assert_frame_equal(frame, _outputs(b)[name], obj=name)


# --- corruption of each kind of cache file ------------------------------------------------------
def _weights(cache: Path) -> Path:
    (entry,) = (cache / "warmup").iterdir()
    return entry / "warm.safetensors"


def _flip_a_bit(path: Path, offset_from_end: int = 9) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


def _shards(cache: Path) -> list[Path]:
    return sorted(cache.glob("row-scores/*/shard-*.parquet"))


def truncate_weights(cache: Path) -> None:
    _weights(cache).write_bytes(_weights(cache).read_bytes()[:100])


def flip_weights(cache: Path) -> None:
    _flip_a_bit(_weights(cache))  # in the tensor data: the header stays valid


def delete_weights(cache: Path) -> None:
    _weights(cache).unlink()


def truncate_manifest(cache: Path) -> None:
    manifest = _weights(cache).parent / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:40])


def truncate_shard(cache: Path) -> None:
    shard = _shards(cache)[1]
    shard.write_bytes(shard.read_bytes()[:200])


def halve_shard(cache: Path) -> None:
    """A valid Parquet file with the right name, holding half of the shard's rows."""
    shard = _shards(cache)[0]
    table = pq.read_table(shard)
    pq.write_table(table.slice(0, table.num_rows // 2), shard)


def alter_shard_losses(cache: Path) -> None:
    """Valid Parquet, same rows and metadata, one loss changed: only the digest can tell."""
    shard = _shards(cache)[2]
    table = pq.read_table(shard)
    base = table.column("loss_base").to_pylist()
    base[5] += 0.25
    table = table.set_column(1, "loss_base", pa.array(base, pa.float64()))
    pq.write_table(table, shard)


def flip_pool_part(cache: Path) -> None:
    """A validated-pool part with one byte changed: the pool is checked again from its files."""
    _flip_a_bit(sorted((cache / "pools").rglob("part-*.parquet"))[0], offset_from_end=200)


CORRUPTIONS = {
    "warmup weights truncated": (truncate_weights, "warmup"),
    "warmup weights bit-flipped": (flip_weights, "warmup"),
    "warmup weights deleted": (delete_weights, "warmup"),
    "warmup manifest truncated": (truncate_manifest, "warmup"),
    "row-score shard truncated": (truncate_shard, "row_scores"),
    "row-score shard with half its rows": (halve_shard, "row_scores"),
    "row-score shard with an altered loss": (alter_shard_losses, "row_scores"),
    "validated-pool part bit-flipped": (flip_pool_part, "pool"),
}


@pytest.fixture(scope="module")
def fresh_run(labelled_task, tmp_path_factory, prefect_api_url):
    """One run on a fresh cache: the outputs every rebuilt cache must reproduce."""
    root = tmp_path_factory.mktemp("fresh")
    report = _run(labelled_task, root / "out", root / "cache")
    assert report["cache"]["warmup"] == "miss"
    assert report["cache"]["damaged"] == {"pool": 0, "warmup": 0, "row_scores": 0}
    return root


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_damaged_cache_entry_is_set_aside_and_rebuilt_to_the_fresh_outputs(
    corruption, fresh_run, labelled_task, tmp_path
):
    damage, kind = CORRUPTIONS[corruption]
    cache = tmp_path / "cache"
    shutil.copytree(fresh_run / "cache", cache)
    damage(cache)
    report = _run(labelled_task, tmp_path / "out", cache)
    assert report["cache"]["damaged"][kind] == 1, report["cache"]
    assert report["cache"]["warmup"] == ("miss" if kind == "warmup" else "hit")
    if kind == "row_scores":
        assert report["cache"]["rows_scored"] == 600  # the damaged shard's rows, and only those
    _assert_same_outputs(fresh_run / "out", tmp_path / "out")
    assert list((cache / "damaged").rglob("*")), "the damaged entry is kept for inspection"
    # Rebuilt: the next run finds everything intact.
    again = _run(labelled_task, tmp_path / "again", cache)
    assert again["cache"]["damaged"] == {"pool": 0, "warmup": 0, "row_scores": 0}
    assert again["cache"]["warmup"] == "hit" and again["cache"]["rows_scored"] == 0


def test_a_damaged_gradcos_gradient_file_is_rebuilt(labelled_task, tmp_path, prefect_api_url):
    options = dict(method="gradcos", shard_rows=1200)
    first = _run(labelled_task, tmp_path / "a", tmp_path / "cache", **options)
    (grads,) = sorted((tmp_path / "cache").glob("gradcos/*/grads/shard-*.safetensors"))[:1]
    _flip_a_bit(grads, offset_from_end=100)
    second = _run(labelled_task, tmp_path / "b", tmp_path / "cache", **options)
    assert first["cache"]["damaged"]["row_scores"] == 0 and second["cache"]["damaged"]["row_scores"] == 1
    assert second["cache"]["rows_scored"] == 1200
    _assert_same_outputs(tmp_path / "a", tmp_path / "b")


# --- cache keys: what changes a value is in its key, and nothing else ----------------------------
KEY_OPTIONS = {"warmup_steps": 30, "warmup_lr": 0.01, "warmup_seed": 1, "model": "mlp"}
UNRELATED_OPTIONS = {
    "budget": 0.3,
    "seed": 5,
    "selection": "topk",
    "shard_rows": 250,
    "workers": 1,
    "finetune_epochs": 2,
    "max_reject_share": 0.9,
}


def test_each_option_that_changes_theta_t_changes_both_keys_and_no_other_does(labelled_task, tmp_path, prefect_api_url):
    labelled_task = {**labelled_task, "pool": labelled_task["pool_first_half"]}
    base = _run(labelled_task, tmp_path / "base", tmp_path / "cache")["hashes"]
    for name, value in KEY_OPTIONS.items():
        hashes = _run(labelled_task, tmp_path / name, tmp_path / "cache", **{name: value})["hashes"]
        assert hashes["warmup_key"] != base["warmup_key"], name
        assert hashes["row_score_key"] != base["row_score_key"], name
    other_validation = tmp_path / "validation.parquet"
    pd.read_parquet(labelled_task["validation"]).iloc[1:].to_parquet(other_validation)
    hashes = _run(labelled_task, tmp_path / "v", tmp_path / "cache", validation=str(other_validation))["hashes"]
    assert hashes["warmup_key"] != base["warmup_key"] and hashes["row_score_key"] != base["row_score_key"]
    for name, value in UNRELATED_OPTIONS.items():
        report = _run(labelled_task, tmp_path / f"u-{name}", tmp_path / "cache", **{name: value})
        assert report["hashes"]["warmup_key"] == base["warmup_key"], name
        assert report["hashes"]["row_score_key"] == base["row_score_key"], name
        assert report["cache"]["warmup"] == "hit" and report["cache"]["rows_scored"] == 0, name


def test_max_length_and_tokenizer_files_are_in_the_causal_lm_keys(tiny_lm, text_task, tmp_path, prefect_api_url):
    """The reproduced bug: a cache filled at --max-length 256 answered a run at 16 with 256-token losses."""
    common = dict(
        pool=str(text_task["pool"]),
        validation=str(text_task["validation"]),
        budget=20,
        cache=str(tmp_path / "cache"),
        skip_finetune=True,
        warmup_steps=5,
        method="lossdrop",
    )
    long = curate_run(**common, model=tiny_lm, max_length=64, out=str(tmp_path / "long"))
    short = curate_run(**common, model=tiny_lm, max_length=8, out=str(tmp_path / "short"))
    assert short["hashes"]["row_score_key"] != long["hashes"]["row_score_key"]
    assert short["cache"]["rows_reused"] == 0 and short["cache"]["warmup"] == "miss"
    curate_run(
        **{**common, "cache": str(tmp_path / "fresh-cache")}, model=tiny_lm, max_length=8, out=str(tmp_path / "fresh")
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "short" / "scores.parquet"), pd.read_parquet(tmp_path / "fresh" / "scores.parquet")
    )
    # Same weights, another tokenizer file: another θ0 as far as any cache is concerned.
    model = tmp_path / "model-copy"
    shutil.copytree(tiny_lm, model)
    config = json.loads((model / "tokenizer_config.json").read_text())
    config["model_max_length"] = 63
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    other = curate_run(**common, model=str(model), max_length=64, out=str(tmp_path / "other"))
    assert other["hashes"]["warmup_key"] != long["hashes"]["warmup_key"]
    assert other["cache"]["warmup"] == "miss"
