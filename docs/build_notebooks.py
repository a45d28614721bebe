"""Execute the tutorial notebooks for the docs site.

The notebooks are kept as jupytext percent-format ``.py`` files in ``docs/notebooks/``.
This script converts each one with jupytext, executes it with nbclient (a fresh kernel,
run in a temporary folder so the notebooks leave no files behind) and writes the executed
``.ipynb`` beside it, where mkdocs-jupyter renders it.  The executed notebooks are build
output (gitignored).  A cell that raises fails the script (exit status 1).

    python docs/build_notebooks.py            # quick mode: OIPVIZ_DOCS_QUICK=1
    python docs/build_notebooks.py --full     # the step counts of the notebooks' text
    python docs/build_notebooks.py conv3_map46   # only the notebooks named
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent / "notebooks"
CELL_TIMEOUT = 600  # seconds; a cell that takes longer is a bug in quick mode
#: TensorFlow's C++ start-up log lines (written to the kernel's stderr before Python's
#: logging is set up, so TF_CPP_MIN_LOG_LEVEL cannot silence them all)
TF_LOG_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} "
    r"|To enable the following instructions: .* rebuild TensorFlow)"
)


def drop_tf_start_up_lines(nb) -> None:
    """Remove TensorFlow's C++ start-up lines from the notebook's stderr outputs (and the
    outputs they leave empty); everything else the cells printed stays."""
    for cell in nb.cells:
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                lines = out["text"].splitlines(keepends=True)
                out["text"] = "".join(ln for ln in lines if not TF_LOG_LINE.match(ln))
                if not out["text"].strip():
                    continue
            kept.append(out)
        if "outputs" in cell:
            cell["outputs"] = kept


def execute(source: Path, quick: bool) -> float:
    """Execute one notebook source and write ``NAME.ipynb`` beside it.

    Parameters
    ----------
    source : Path
        A jupytext ``.py`` notebook.
    quick : bool
        Run with ``OIPVIZ_DOCS_QUICK=1`` (small step counts).

    Returns
    -------
    float
        Seconds taken.
    """
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    os.environ["OIPVIZ_DOCS_QUICK"] = "1" if quick else "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up lines
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="oipviz-nb-") as work:
        client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                resources={"metadata": {"path": work}})  # fmt: skip
        client.execute()
    seconds = time.perf_counter() - t0
    drop_tf_start_up_lines(nb)
    nbformat.write(nb, source.with_suffix(".ipynb"))
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook names (default: all)")
    parser.add_argument("--full", action="store_true", help="full step counts")
    args = parser.parse_args(argv)
    sources = sorted(HERE.glob("*.py"))
    if args.names:
        sources = [s for s in sources if s.stem in args.names]
        missing = set(args.names) - {s.stem for s in sources}
        if missing:
            print(f"error: no notebook named {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
    total = 0.0
    for source in sources:
        try:
            seconds = execute(source, quick=not args.full)
        except CellExecutionError as exc:
            print(f"error: {source.name} failed:\n{exc}", file=sys.stderr)
            return 1
        total += seconds
        print(f"{source.stem}: {seconds:.1f} s", flush=True)
    print(f"{len(sources)} notebooks: {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
