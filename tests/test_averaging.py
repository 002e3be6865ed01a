"""The exponential moving average of the weights (chapter 9)."""

import pytest
import torch
from torch import nn

from seq2code.averaging import WeightAverage


def test_the_average_follows_its_formula_with_the_warm_up():
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    average = WeightAverage(model, decay=0.5)
    expected = torch.zeros(1, 2)
    for n, value in enumerate([1.0, 2.0, 4.0], start=1):
        with torch.no_grad():
            model.weight.fill_(value)
        average.update()
        d = min(0.5, (1 + n) / (10 + n))  # d_1 = 2/11, d_2 = 3/12, d_3 = 4/13
        expected = d * expected + (1 - d) * value
    torch.testing.assert_close(average.shadow[0], expected)


def test_applied_swaps_the_average_in_and_restores_the_weights_even_on_error():
    model = nn.Linear(3, 2)
    average = WeightAverage(model, decay=0.9)
    own = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for s in average.shadow:
            s.add_(1.0)
    with pytest.raises(RuntimeError, match="inside"):
        with average.applied():
            for p, s in zip(model.parameters(), average.shadow, strict=True):
                assert torch.equal(p, s)
            raise RuntimeError("inside")
    for p, o in zip(model.parameters(), own, strict=True):
        assert torch.equal(p, o)


def test_state_round_trip_and_checks():
    model = nn.Linear(3, 2)
    average = WeightAverage(model, decay=0.99)
    average.update()
    other = WeightAverage(nn.Linear(3, 2), decay=0.5)
    other.load_state_dict(average.state_dict())
    assert other.decay == 0.99 and other.updates == 1
    for a, b in zip(average.shadow, other.shadow, strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="another number"):
        WeightAverage(nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2)), 0.5).load_state_dict(
            average.state_dict())
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, decay=1.0)
