"""Markdown tables for notebooks."""

import pytest

from seq2code.tables import Table


def test_markdown_with_formats_and_alignment():
    table = Table(["split", "examples", "share"], [["train", 16000, 0.851], ["dev", 1000, 0.053]],
                  formats=[None, ",d", ".1%"])
    assert table.to_markdown().splitlines() == [
        "| split | examples | share |",
        "| :--- | ---: | ---: |",
        "| train | 16,000 | 85.1% |",
        "| dev | 1,000 | 5.3% |",
    ]
    assert table._repr_markdown_() == str(table)


def test_pipes_and_newlines_in_cells_are_escaped():
    line = Table(["code"], [["a | b\nc"]]).to_markdown().splitlines()[-1]
    assert line == "| a \\| b c |"


def test_ragged_rows_are_refused():
    with pytest.raises(ValueError):
        Table(["a", "b"], [[1]])
    with pytest.raises(ValueError):
        Table(["a"], [[1]], formats=["d", "d"])
