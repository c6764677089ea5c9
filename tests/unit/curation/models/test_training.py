"""The one training loop: a seeded order of batches drawn without replacement and reshuffled when it
runs out, each step heard of after it with the model in eval mode, the model left in eval mode."""

from __future__ import annotations

import torch

from curation.models.training import Steps, train


def batches_of(steps: Steps, rows: int = 5) -> list[list[int]]:
    """The batches the loop asked losses of, in order."""
    model = torch.nn.Linear(2, 1)
    asked = []

    def batch_loss(positions: list[int]) -> torch.Tensor:
        asked.append(list(positions))
        return model(torch.ones(len(positions), 2)).pow(2).mean()

    train(model, torch.optim.SGD(model.parameters(), lr=0.1), rows, steps, batch_loss)
    assert not model.training
    return asked


def test_each_pass_covers_every_row_once_in_a_seeded_order():
    asked = batches_of(Steps(count=6, batch_size=2, seed=3))
    assert [len(batch) for batch in asked] == [2, 2, 1, 2, 2, 1]  # 5 rows: a short last batch, then a new pass
    first, second = asked[:3], asked[3:]
    assert sorted(sum(first, [])) == sorted(sum(second, [])) == [0, 1, 2, 3, 4]
    assert batches_of(Steps(count=6, batch_size=2, seed=3)) == asked
    assert batches_of(Steps(count=6, batch_size=2, seed=4)) != asked


def test_each_step_is_heard_of_after_it_with_the_model_in_eval_mode():
    model = torch.nn.Linear(2, 1)
    heard, ticks = [], []

    def on_step(step: int) -> None:
        heard.append((step, model.training, float(model.weight.detach().sum())))

    steps = Steps(count=3, batch_size=4, seed=0, progress=ticks.append, on_step=on_step)
    train(model, torch.optim.SGD(model.parameters(), lr=0.1), 4, steps, lambda b: model(torch.ones(len(b), 2)).sum())
    assert [(step, training) for step, training, _ in heard] == [(1, False), (2, False), (3, False)]
    assert len({weight for _, _, weight in heard}) == 3  # the model moved at every step
    assert ticks == [1, 1, 1] and not model.training


def test_no_steps_trains_nothing():
    model = torch.nn.Linear(2, 1)
    before = model.weight.detach().clone()
    train(model, torch.optim.SGD(model.parameters(), lr=0.1), 3, Steps(0, 2, 0), lambda b: model.weight.sum())
    assert torch.equal(model.weight, before) and not model.training


def test_a_step_that_answers_true_ends_the_training_there_in_eval_mode():
    """The calibration's early stopping: a run past its peak trains no further."""
    model = torch.nn.Linear(2, 1)
    heard = []
    steps = Steps(count=10, batch_size=2, seed=0, on_step=lambda step: heard.append(step) or step == 3)
    train(model, torch.optim.SGD(model.parameters(), lr=0.1), 4, steps, lambda b: model(torch.ones(len(b), 2)).sum())
    assert heard == [1, 2, 3] and not model.training
