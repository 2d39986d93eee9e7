"""The walkthrough notebook runs top to bottom (nbclient), as a newcomer would run it; the
committed copy carries its outputs, equal to a fresh run's, and its prose matches them.

Regenerate the committed outputs after a change with::

    python -m tests.test_notebook --write
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "eie_walkthrough.ipynb"


def executed() -> nbformat.NotebookNode:
    """The notebook run top to bottom; the kernel's own log lines (not the cells') dropped."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs
                            if not (o.output_type == "stream" and o.text.startswith("[IPKernelApp]"))]
    return nb


def text_outputs(nb: nbformat.NotebookNode) -> list[list[str]]:
    """Per code cell, its printed text and plain-text results (images left out)."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        streamed = False
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                # a kernel splits printed text into chunks as it flushes: compare the text, not chunks
                if streamed:
                    parts[-1] += o.text
                else:
                    parts.append(o.text)
                streamed = True
                continue
            streamed = False
            if "text/plain" in o.get("data", {}):
                parts.append(o.data["text/plain"])
        out.append(parts)
    return out


def test_walkthrough_runs_and_the_committed_outputs_are_current():
    committed = nbformat.read(NOTEBOOK, as_version=4)
    nb = executed()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "cycles =" in text and "kept weights" in text
    assert [o for o in outputs if "image/png" in o.get("data", {})], "the energy plot should render"
    assert text_outputs(committed) == text_outputs(nb), (
        "the committed notebook's outputs are stale: run python -m tests.test_notebook --write")


def test_prose_matches_what_the_cells_print():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    printed = "\n".join("".join(p) for p in text_outputs(nb))
    claimed = re.search(r"fits on chip only\s+from (\d+) PEs", prose)
    shown = re.search(r"fc6 is resident from (\d+) PEs", printed)
    assert claimed and shown and claimed[1] == shown[1]


def main() -> None:
    ap = argparse.ArgumentParser(description="run the walkthrough and commit its outputs")
    ap.add_argument("--write", action="store_true", help="save the executed notebook in place")
    args = ap.parse_args()
    nb = executed()
    if args.write:
        for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
            cell.execution_count = i + 1
            for o in cell.get("outputs", []):
                if "execution_count" in o:
                    o.execution_count = i + 1
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, NOTEBOOK)
        print(f"wrote {NOTEBOOK}")


if __name__ == "__main__":
    main()
