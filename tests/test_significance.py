"""The paired bootstrap of seq2code.significance."""

import pytest

from seq2code.significance import paired_bootstrap


def test_identical_models_are_within_the_noise():
    a = [1.0, 0.0, 1.0, 1.0, 0.0] * 40
    result = paired_bootstrap(a, list(a))
    assert result.difference == 0.0 and result.low == 0.0 and result.high == 0.0
    assert not result.clear
    assert "within the noise" in result.verdict("LSTM", "RNN")


def test_a_clear_win_has_an_interval_above_zero():
    a = [1.0] * 120 + [0.0] * 80  # 60%
    b = [1.0] * 60 + [0.0] * 140  # 30%, and right only where A is right
    result = paired_bootstrap(a, b)
    assert result.a == pytest.approx(0.6) and result.b == pytest.approx(0.3)
    assert result.difference == pytest.approx(0.3)
    assert 0 < result.low < 0.3 < result.high
    assert result.clear and result.verdict("attention", "LSTM").startswith("attention is better")
    worse = paired_bootstrap(b, a)
    assert worse.clear and worse.verdict("LSTM", "attention").startswith(
        "attention is better than LSTM: +30.0% (95% interval +")  # in the winner's favour


def test_a_small_difference_on_few_lines_is_noise_and_the_interval_is_reproducible():
    a = [1.0, 0.0] * 10 + [1.0]  # one line more right than b
    b = [1.0, 0.0] * 10 + [0.0]
    first, again = paired_bootstrap(a, b, seed=3), paired_bootstrap(a, b, seed=3)
    assert first == again
    assert first.low <= 0 < first.high and not first.clear


def test_unpaired_lists_are_refused():
    with pytest.raises(ValueError, match="equally long"):
        paired_bootstrap([1.0, 0.0], [1.0])
    with pytest.raises(ValueError):
        paired_bootstrap([], [])
