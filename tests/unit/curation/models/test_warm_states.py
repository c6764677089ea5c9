"""θ1 and θT of the trained parameters: kept, swapped in for a pass and back, saved and loaded."""

from __future__ import annotations

import pytest
import torch

from curation.models.warm_states import WarmStates


def test_states_swap_in_for_a_block_and_back_and_survive_a_save(tmp_path):
    weight = torch.nn.Parameter(torch.zeros(2))
    states = WarmStates({"w": weight}, live="warm")
    states.keep("theta0")
    weight.data = torch.ones(2)
    states.keep("theta1")
    weight.data = torch.full((2,), 5.0)
    states.finish(back_to="theta0")  # a full warmup: θ0's weights go back in place
    assert weight.tolist() == [0.0, 0.0] and states.live == "theta0"
    with states.holding("warm"):
        assert weight.tolist() == [5.0, 5.0]
    with states.holding("theta1"):
        assert weight.tolist() == [1.0, 1.0]
    assert weight.tolist() == [0.0, 0.0]
    states.save(str(tmp_path))
    fresh = WarmStates({"w": torch.nn.Parameter(torch.zeros(2))}, live="theta0")
    fresh.load(str(tmp_path))
    with fresh.holding("warm"):
        assert fresh.params["w"].tolist() == [5.0, 5.0]


def test_a_file_of_other_tensors_is_refused(tmp_path):
    states = WarmStates({"w": torch.nn.Parameter(torch.zeros(2))}, live="warm")
    states.keep("theta1")
    states.finish()
    states.save(str(tmp_path))
    with pytest.raises(ValueError, match="other tensors"):
        WarmStates({"w": torch.nn.Parameter(torch.zeros(3))}, live="warm").load(str(tmp_path))
