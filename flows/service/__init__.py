"""The curation service (`curate serve`, `curate watch`, the infra stack's automation), one job per module:

- `deployments.py`: the `nightly`, `pool-landed` and `watch-pools` deployments, built from a `ServiceConfig`;
- `watch_state.py`: where a watcher keeps its state file, and adopting an older watcher's state;
- `resume.py`: runs a previous `curate serve` left interrupted, scheduled again (their orphaned processes killed);
- `automations.py`: the server-side automation that reschedules a crashed run on worker stacks;
- `serve.py`: `curate serve` itself (deployments served, interrupted runs resumed, the watcher thread).
"""
