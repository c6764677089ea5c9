"""Shared building blocks of the curation tool: storage, hashing, row schemas, model adapters.

The pipeline stages live in `tasks/` (one module per stage) and the Prefect flow in `flows/`.
"""

# Bump when a change alters warmup results, so old warmup caches stop matching
# (3: chat spans from the template's own rendering).
CODE_VERSION = "3"
