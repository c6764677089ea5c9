"""embedding (RDS+-style): each pool row's max or mean cosine similarity to the validation rows,
over θ0's last hidden states mean-pooled over the row's tokens (or the `features` of feature
rows). No warmup, one θ0 pass per row, nothing kept; runs in the flow's process whatever the engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from curation.models import ModelAdapter
from curation.progress import progress_bar
from curation.scorers.base import SCORES_SCHEMA, Scored, Scorer, ScoreRequest, lossless_scores, unit_rows


def similarity_scores(pool: np.ndarray, validation_unit: np.ndarray, reduce: str) -> np.ndarray:
    """Each pool row's max or mean cosine similarity to the validation rows."""
    cosines = unit_rows(pool) @ validation_unit.T
    return (cosines.max(1) if reduce == "max" else cosines.mean(1)).astype(np.float64)


def write_embedding_scores(
    parts: list[str], adapter: ModelAdapter, validation: pd.DataFrame, reduce: str, path: str
) -> np.ndarray:
    """θ0's embeddings of pool and validation rows, scored by cosine similarity, streamed shard by
    shard into scores.parquet (losses are NaN: none computed)."""
    reference = unit_rows(adapter.embed(validation))
    scores = []
    with (
        pq.ParquetWriter(path, SCORES_SCHEMA) as writer,
        progress_bar(sum(pq.read_metadata(p).num_rows for p in parts), "embed") as progress,
    ):
        for part in parts:
            rows = pq.read_table(part).to_pandas()
            score = similarity_scores(adapter.embed(rows), reference, reduce)
            writer.write_table(lossless_scores(rows["id"], score))
            scores.append(score)
            progress(len(rows))
    return np.concatenate(scores) if scores else np.empty(0)


class Embedding(Scorer):
    def score(self, request: ScoreRequest) -> Scored:
        scores = write_embedding_scores(
            request.pool.valid_parts, request.adapter, request.target.warm_rows, request.run.similarity, request.path
        )
        return Scored(scores, forward_passes=request.pool.valid_rows + len(request.target.warm_rows))
