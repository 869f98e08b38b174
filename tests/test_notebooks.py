"""Each notebook runs top to bottom on a fresh kernel with FAST = True."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def with_fast_parameters(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with a line ``FAST = True`` in its cell tagged ``parameters``.

    The line goes right after the cell's own ``FAST = ...`` line, so that the sizes the
    cell derives from ``FAST`` below it are the small ones.
    """
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"expected one cell tagged 'parameters', found {len(tagged)}")
    lines = tagged[0].source.splitlines()
    assignments = [i for i, line in enumerate(lines) if line.startswith("FAST =")]
    if not assignments:
        raise ValueError("the cell tagged 'parameters' has no line 'FAST = ...'")
    lines.insert(assignments[0] + 1, "FAST = True")
    tagged[0].source = "\n".join(lines)
    return notebook


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda path: path.name)
def test_notebook_runs_with_fast_parameters(path: Path) -> None:
    notebook = with_fast_parameters(nbformat.read(path, as_version=4))
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code_cells] == list(range(1, len(code_cells) + 1))
    errors = [output for cell in code_cells for output in cell.outputs if output.output_type == "error"]
    assert not errors, errors
