"""blend: the calibrated loss drop and embedding similarity, each as a rank percentile, averaged.

Neither wins everywhere (benchmarks/RESULTS.md): the loss drop finds label noise and man-page
text, embedding finds rotated digits and a topic in real chat data. A row both rank high is a
safer pick than one only one of them ranks high. Ranks, not raw scores, because the two live on
unrelated scales. It costs what both cost: the loss drop's two passes per row (cached per θT, so
a `lossdrop` run on the same pool before leaves nothing to score) and one θ0 pass for the embedding.
"""

from __future__ import annotations

import dataclasses
import os

import pyarrow as pa
import pyarrow.parquet as pq

from curation.scorers.base import SCORES_SCHEMA, Scored, Scorer, ScoreRequest
from curation.scorers.embedding import Embedding
from curation.scorers.lossdrop import LossDrop
from curation.signals import blend_scores


class Blend(Scorer):
    """The loss drop and embedding similarity, blended by rank."""

    needs_warmup = True

    def score(self, request: ScoreRequest) -> Scored:
        paths = {name: f"{request.path}.{name}.parquet" for name in ("lossdrop", "embedding")}
        drop = LossDrop().score(dataclasses.replace(request, path=paths["lossdrop"]))
        similar = Embedding().score(dataclasses.replace(request, path=paths["embedding"]))
        score = blend_scores(drop.scores, similar.scores)
        table = pq.read_table(paths["lossdrop"])  # id and the endpoint losses, in pool order
        table = table.set_column(table.schema.get_field_index("score"), "score", pa.array(score))
        pq.write_table(table.cast(SCORES_SCHEMA), request.path)
        for path in paths.values():
            os.remove(path)
        return dataclasses.replace(drop, scores=score, forward_passes=drop.forward_passes + similar.forward_passes)
