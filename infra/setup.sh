#!/usr/bin/env bash
# One-time setup of a Prefect server for the curation service: work pools, the `gpu` concurrency
# limit, and the deployments of infra/prefect.yaml. Idempotent: run it again after a change.
# Needs PREFECT_API_URL and the CURATE_* settings named in infra/prefect.yaml; run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PREFECT_API_URL:?set PREFECT_API_URL to the server, e.g. http://127.0.0.1:4200/api}"

# Work pools: `process` workers run flows inside their own container (dockerfiles/).
prefect work-pool create cpu --type process --base-job-template infra/work-pools/cpu.json --overwrite
prefect work-pool create gpu --type process --base-job-template infra/work-pools/gpu.json --overwrite

# Score shards on a GPU carry the tag `gpu`: at most this many run at once (one per GPU).
prefect concurrency-limit delete gpu >/dev/null 2>&1 || true
prefect concurrency-limit create gpu "${CURATE_GPU_SLOTS:-1}"

prefect --no-prompt deploy --all --prefect-file infra/prefect.yaml

# A crashed curate-pools run (a worker or its machine died) is scheduled again, and resumes from
# the caches (flows/service/automations.py: resume_crashed_automation); a run whose pool drifted
# (curation.drift.detected) pauses its deployment until someone resumes it (pause_on_drift_automation).
python -m flows.service.automations
