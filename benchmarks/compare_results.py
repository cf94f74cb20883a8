"""Are two results folders the same, byte for byte? For a change that must not move a
number (a refactor, a new layout): run the workflow with the code before and after,
then compare.

    python benchmarks/compare_results.py BEFORE/results AFTER/results [--also FILE ...]

Compares the files that hold results, not the ones that hold timings or dates: the
tables, the split manifest, every evaluation's ``metrics.json`` and ``tracks.csv``,
every model's training history without its ``time_s`` column, and any pair of files
given with ``--also`` (e.g. two ``divconq predict`` outputs, as ``A=B``). Prints one line
per file and exits with status 1 if any differs or is missing on one side.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

PATTERNS = (
    "tables/*",
    "split/manifest.csv",
    "eval/*/*/metrics.json",
    "eval/*/*/tracks.csv",
    "models/*/*/history.csv",
)


def digest(path: Path) -> str:
    """sha256 of a file; of a training history, without its wall-clock column."""
    data = path.read_bytes()
    if path.name == "history.csv":
        import pandas as pd

        df = pd.read_csv(io.BytesIO(data))
        data = df.drop(columns=["time_s"], errors="ignore").to_csv(index=False).encode()
    return hashlib.sha256(data).hexdigest()


def pairs(before: Path, after: Path):
    names = set()
    for pattern in PATTERNS:
        names |= {p.relative_to(before) for p in before.glob(pattern) if p.is_file()}
        names |= {p.relative_to(after) for p in after.glob(pattern) if p.is_file()}
    for name in sorted(names):
        yield str(name), before / name, after / name


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--also", nargs="*", default=[], metavar="A=B")
    args = parser.parse_args(argv)
    todo = list(pairs(args.before, args.after))
    for item in args.also:
        a, _, b = item.partition("=")
        todo.append((item, Path(a), Path(b)))
    bad = 0
    for name, a, b in todo:
        if not (a.is_file() and b.is_file()):
            status = "missing in " + ("before" if not a.is_file() else "after")
        else:
            status = "same" if digest(a) == digest(b) else "DIFFERENT"
        bad += status != "same"
        print(f"{status:>17}  {name}")
    print(f"{len(todo) - bad} of {len(todo)} files the same")
    return 1 if bad or not todo else 0


if __name__ == "__main__":
    sys.exit(main())
