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


def test_markdown_specials_are_escaped_and_code_is_fenced():
    row = Table(["nl", "code"], [["define __init__ with *args", "x = `y` | z"]],
                formats=[None, "code"]).to_markdown().splitlines()[-1]
    assert row == "| define \\_\\_init\\_\\_ with \\*args | ``x = `y` \\| z`` |"


def test_numpy_numbers_are_right_aligned_text_left():
    np = pytest.importorskip("numpy")
    rule = Table(["a", "b", "c"], [[np.int64(3), np.float32(0.5), True]]).to_markdown()
    assert rule.splitlines()[1] == "| ---: | ---: | :--- |"


def test_html_escapes_and_formats():
    table = Table(["nl", "code", "n"], [["a <b> & c", "x < 1", 1234]],
                  formats=[None, "code", ",d"])
    html = table._repr_html_()
    assert "<td style=\"text-align:left\">a &lt;b&gt; &amp; c</td>" in html
    assert "<code>x &lt; 1</code>" in html
    assert "<td style=\"text-align:right\">1,234</td>" in html
    assert html.count("<tr>") == 2


def test_ragged_rows_are_refused():
    with pytest.raises(ValueError):
        Table(["a", "b"], [[1]])
    with pytest.raises(ValueError):
        Table(["a"], [[1]], formats=["d", "d"])
