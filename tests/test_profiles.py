"""Profile.describe: the one line a chapter prints about the run profile it trains with."""

import pytest

from seq2code.profiles import PROFILES, get_profile


def test_the_cpu_profile_in_one_sentence():
    assert get_profile("cpu").describe() == (
        "Run profile cpu: all 16,000 training pairs, 3 epochs, hidden size 256 "
        "(set SEQ2CODE_PROFILE to ci, cpu or full).")


def test_a_subset_and_early_stopping_are_said():
    assert get_profile("ci").describe().startswith(
        "Run profile ci: 3,000 of the 16,000 training pairs, 4 epochs, hidden size 256")
    assert ("up to 30 epochs (stopping after 5 without a better dev exact match)"
            in get_profile("full").describe())


@pytest.mark.parametrize("name", list(PROFILES))
def test_describe_is_one_line_and_no_raw_dump(name):
    text = PROFILES[name].describe()
    assert "\n" not in text and "Profile(" not in text and "=" not in text
    assert text.endswith(".")
