"""The tutorials' source of truth is the percent-format `.py` beside each notebook; the `.ipynb`
that nbval runs and readers open must be exactly what that source says (`make notebooks`)."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("*.py"))


def test_every_tutorial_has_its_text_source():
    assert SOURCES and {p.stem for p in SOURCES} == {p.stem for p in NOTEBOOKS.glob("*.ipynb")}


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_the_notebook_matches_its_source(source):
    text = jupytext.read(source)
    book = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert [(c.cell_type, c.source) for c in text.cells] == \
        [(c.cell_type, c.source) for c in book.cells], \
        f"run `make notebooks`: {source.name} and its .ipynb differ"


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_expected_errors_are_checked_by_message(source):
    book = jupytext.read(source)
    cells = book.cells
    for i, cell in enumerate(cells):
        if "raises-exception" in cell.metadata.get("tags", []):
            after = next((c for c in cells[i + 1:] if c.cell_type == "code"), None)
            assert after is not None and "sys.last_value" in after.source, \
                f"{source.name}: the error of cell {i} is not checked"
        assert "NBVAL_RAISES_EXCEPTION" not in cell.source, \
            "use the raises-exception tag and check the message in the next cell"
    assert "seed 0" not in source.read_text(encoding="utf-8")
