"""The service's automations on the server, for worker stacks where no `curate serve` resumes runs:
`python -m flows.service.automations` (what infra/setup.sh runs) installs them."""

from __future__ import annotations

RESUME_AUTOMATION = "curate-pools: resume a crashed run"


def resume_crashed_automation():
    """For worker stacks (infra/setup.sh installs it): a `curate-pools` run that crashed (its worker
    or machine died) is scheduled again, as `curate serve` does at its start; it resumes from the
    caches. `curate_pools` refuses a run past MAX_ATTEMPTS, so a run that always crashes stops."""
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


def install_automations() -> None:
    """Create the service's automations on the server, replacing those of the same name (idempotent)."""
    from prefect.automations import Automation

    try:
        Automation.read(name=RESUME_AUTOMATION).delete()
    except ValueError:  # none of that name yet
        pass
    resume_crashed_automation().create()


if __name__ == "__main__":  # `python -m flows.service.automations`: what infra/setup.sh runs
    install_automations()
