"""Scoring methods behind one interface (`base.Scorer`), as the models are behind `ModelAdapter`.

The registry names each method and where its scorer lives; a scorer module is imported only
when its method runs, so this list costs nothing to read (the command line's `--method` choices
and the config's `Method` come from it). A new scoring variant is a new scorer here.
"""

from __future__ import annotations

import importlib

# In the order `curate compare` runs them by default: the random baseline first.
SCORERS = {
    "random": "curation.scorers.uniform:RandomScores",
    "lossdrop": "curation.scorers.lossdrop:LossDrop",
    "lossdrop-raw": "curation.scorers.lossdrop:LossDropRaw",
    "embedding": "curation.scorers.embedding:Embedding",
    "gradcos": "curation.scorers.gradcos:GradCos",
    "blend": "curation.scorers.blend:Blend",
}
METHODS = tuple(SCORERS)


def scorer_for(method: str):
    """The scorer of a registered method."""
    module, name = SCORERS[method].split(":")
    return getattr(importlib.import_module(module), name)()
