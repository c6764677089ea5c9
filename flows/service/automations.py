"""The service's automations on the server: a crashed run resumed and a drifted pool's deployment
paused. `python -m flows.service.automations` (what infra/setup.sh runs) and `curate serve` install both."""

from __future__ import annotations

RESUME_AUTOMATION = "curate-pools: resume a crashed run"
DRIFT_AUTOMATION = "curation drift: pause the deployment until someone looks"


def resume_crashed_automation():
    """A `curate-pools` run that crashed (its process, worker or machine died; under `curate serve`, say,
    a run whose process exited while the server restarted) is scheduled again, as `curate serve` does
    at its start for runs its own death interrupted; it resumes from the caches. `curate_pools` refuses
    a run past MAX_ATTEMPTS, so a run that always crashes stops."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture

    trigger = EventTrigger(
        expect={"prefect.flow-run.Crashed"},
        match_related={"prefect.resource.role": "flow", "prefect.resource.name": "curate-pools"},
        posture=Posture.Reactive,
        threshold=1,
    )
    action = ChangeFlowRunState(state=StateType.SCHEDULED, message="crashed: resumed by an automation")
    return Automation(name=RESUME_AUTOMATION, description=resume_crashed_automation.__doc__, trigger=trigger,
                      actions=[action])  # fmt: skip


def pause_on_drift_automation():
    """A run whose pool drifted past the thresholds (`curation.drift.detected`, tasks/trends.py) pauses the
    deployment that ran it: no later night selects and finetunes from the drifted pool until someone
    has read the `curation-trends` artifact and resumed the deployment (`prefect deployment resume`)."""
    from prefect.automations import Automation
    from prefect.events.actions import PauseDeployment
    from prefect.events.schemas.automations import EventTrigger, Posture

    trigger = EventTrigger(expect={"curation.drift.detected"}, posture=Posture.Reactive, threshold=1)
    return Automation(name=DRIFT_AUTOMATION, description=pause_on_drift_automation.__doc__, trigger=trigger,
                      actions=[PauseDeployment(source="inferred")])  # fmt: skip


def install_automations(resume: bool = True) -> None:
    """Create the service's automations on the server, replacing those of the same name (idempotent)."""
    from prefect.automations import Automation

    wanted = [resume_crashed_automation()] if resume else []
    for automation in (*wanted, pause_on_drift_automation()):
        try:
            Automation.read(name=automation.name).delete()
        except ValueError:  # none of that name yet
            pass
        automation.create()


if __name__ == "__main__":  # `python -m flows.service.automations`: what infra/setup.sh runs
    install_automations()
