"""The automation worker stacks get: what it reacts to and what it does, and its installation
replacing one of the same name (the server's calls recorded, no server)."""

from __future__ import annotations

from prefect.automations import Automation
from prefect.events.actions import ChangeFlowRunState, PauseDeployment
from prefect.events.schemas.automations import EventTrigger, Posture

from flows.service.automations import (
    DRIFT_AUTOMATION,
    RESUME_AUTOMATION,
    install_automations,
    pause_on_drift_automation,
    resume_crashed_automation,
)
from tasks.trends import DRIFT_EVENT


def test_a_crashed_curate_pools_run_is_scheduled_again():
    automation = resume_crashed_automation()
    assert isinstance(automation, Automation) and automation.name == RESUME_AUTOMATION and automation.enabled
    assert automation.description == resume_crashed_automation.__doc__
    trigger = automation.trigger
    assert isinstance(trigger, EventTrigger) and trigger.expect == {"prefect.flow-run.Crashed"}
    assert trigger.match_related.root == {"prefect.resource.role": "flow", "prefect.resource.name": "curate-pools"}
    assert trigger.posture == Posture.Reactive and trigger.threshold == 1 and trigger.match.root == {}
    (action,) = automation.actions
    assert isinstance(action, ChangeFlowRunState) and action.state.value == "SCHEDULED"
    assert action.message == "crashed: resumed by an automation" and not action.force


def test_a_drift_event_pauses_the_deployment_it_names():
    automation = pause_on_drift_automation()
    assert automation.name == DRIFT_AUTOMATION and automation.enabled
    trigger = automation.trigger
    assert isinstance(trigger, EventTrigger) and trigger.expect == {DRIFT_EVENT}
    assert trigger.posture == Posture.Reactive and trigger.threshold == 1
    (action,) = automation.actions
    assert isinstance(action, PauseDeployment) and action.source == "inferred"  # the event's related deployment


def recorded_server(monkeypatch, existing: bool) -> list[str]:
    """Automation.read/delete/create as a server with (or without) an automation of that name."""
    calls = []

    class Existing:
        def delete(self):
            calls.append("delete")

    def read(cls, name):
        calls.append(f"read {name}")
        if not existing:
            raise ValueError(f"Automation with name {name!r} not found")
        return Existing()

    monkeypatch.setattr(Automation, "read", classmethod(read))
    monkeypatch.setattr(Automation, "create", lambda self: calls.append(f"create {self.name}"))
    return calls


def test_installing_replaces_the_automation_of_the_same_name(monkeypatch):
    calls = recorded_server(monkeypatch, existing=True)
    install_automations()
    assert calls == [
        f"read {RESUME_AUTOMATION}", "delete", f"create {RESUME_AUTOMATION}",
        f"read {DRIFT_AUTOMATION}", "delete", f"create {DRIFT_AUTOMATION}",
    ]  # fmt: skip


def test_installing_on_a_server_without_it_creates_it(monkeypatch):
    calls = recorded_server(monkeypatch, existing=False)
    install_automations()
    assert calls == [
        f"read {RESUME_AUTOMATION}",
        f"create {RESUME_AUTOMATION}",
        f"read {DRIFT_AUTOMATION}",
        f"create {DRIFT_AUTOMATION}",
    ]
