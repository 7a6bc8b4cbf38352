"""The README's "From Python" examples run as written: its two python blocks, executed in order
in one namespace, print the verdict the comment says and the Monitor's correct loop warns
nothing."""

import contextlib
import io
import pathlib
import re
import warnings

import pytest

torch = pytest.importorskip("torch")

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def python_blocks():
    text = README.read_text()
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readme_examples_run_as_written():
    blocks = python_blocks()
    assert len(blocks) == 2, blocks
    namespace = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], "README.md (From Python, block 1)", "exec"), namespace)
    assert out.getvalue().strip() == "wrong ['sum_of_microbatch_means']", out.getvalue()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(compile(blocks[1], "README.md (From Python, block 2)", "exec"), namespace)
    monitor = namespace["monitor"]
    # Checked at steps 5 and 10, both correct.
    assert [(step, r.verdict) for step, r in monitor.reports] == [(5, "correct"), (10, "correct")], monitor.reports
    assert not monitor.warned
