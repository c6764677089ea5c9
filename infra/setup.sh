#!/usr/bin/env bash
# One-time setup of a Prefect server for the curation service: work pools, the `gpu` and
# `curation-claims` global concurrency limits, and the deployments of infra/prefect.yaml.
# Idempotent: run it again after a change.
# Needs PREFECT_API_URL and the CURATE_* settings named in infra/prefect.yaml; run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PREFECT_API_URL:?set PREFECT_API_URL to the server, e.g. http://127.0.0.1:4200/api}"

# Work pools: `process` workers run flows inside their own container (dockerfiles/).
prefect work-pool create cpu --type process --base-job-template infra/work-pools/cpu.json --overwrite
prefect work-pool create gpu --type process --base-job-template infra/work-pools/gpu.json --overwrite

# Global concurrency limits, made or set to these sizes: `gpu`, whose slots a run's scoring and
# finetunes on a GPU hold under a lease (tasks/slots.py: one slot per GPU; a run killed holding one
# frees it when the lease runs out), and `curation-claims`, the one-slot mutex under which a run
# claims its pool version (flows/service/once.py). The tag-based `gpu` limit of earlier versions,
# which a killed run kept, is removed.
limit() {
    if prefect global-concurrency-limit inspect "$1" >/dev/null 2>&1; then
        prefect global-concurrency-limit update "$1" --limit "$2" >/dev/null
    else
        prefect global-concurrency-limit create "$1" --limit "$2" >/dev/null
    fi
}
prefect concurrency-limit delete gpu >/dev/null 2>&1 || true
limit gpu "${CURATE_GPU_SLOTS:-1}"
limit curation-claims 1

prefect --no-prompt deploy --all --prefect-file infra/prefect.yaml

# A crashed curate-pools run (a worker or its machine died) is scheduled again, and resumes from
# the caches (flows/service/automations.py: resume_crashed_automation); a run whose pool drifted
# (curation.drift.detected) pauses its deployment until someone resumes it (pause_on_drift_automation).
python -m flows.service.automations
