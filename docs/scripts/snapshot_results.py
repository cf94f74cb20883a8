"""Copy the result tables the documentation shows into small committed CSV files.

``results/`` is git-ignored, and CI builds the documentation on a clean clone, so
the pages read snapshots under ``docs/results/<name>/accuracy.csv`` instead: the
rows of ``<results folder>/tables/accuracy.csv`` with the columns the pages use,
rounded, and two header lines (``# source: ...``, ``# snapshot: <date>``). The
MkDocs hook (``docs/hooks.py``) turns them into tables wherever a page has a
results-table placeholder; this script also rewrites the README's table between
its placeholder and ``<!-- /results-table -->``.

    python docs/scripts/snapshot_results.py                    # every folder below that exists
    python docs/scripts/snapshot_results.py results/realmusic  # one folder (name = its folder name)

``make docs-results`` runs it. A folder that does not exist is skipped with a note.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
DEFAULT_FOLDERS = ["results/realmusic", "results/realmusic_5fold", "results/realmusic_collection"]
COLUMNS = [
    "experiment",
    "input",
    "level",
    "split",
    "fold",
    "n_seeds",
    "mean",
    "sd",
    "min",
    "max",
    "ci_low",
    "ci_high",
    "p_ttest",
    "p_wilcoxon",
    "note",
]
FLOAT_COLUMNS = {"mean", "sd", "min", "max", "ci_low", "ci_high"}
END_MARKER = "<!-- /results-table -->"


def load_hooks():
    spec = importlib.util.spec_from_file_location("divconq_docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _round(value: str, digits: int) -> str:
    if value in ("", None):
        return ""
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number:.{digits}f}" if digits else f"{number:.3g}"


def snapshot(folder: Path, out_dir: Path, today: str) -> Path:
    """Write ``out_dir/<folder name>/accuracy.csv`` from ``folder/tables/accuracy.csv``."""
    source = folder / "tables" / "accuracy.csv"
    with open(source, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = [c for c in COLUMNS if rows and c in rows[0]]
    target = out_dir / folder.name / "accuracy.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        shown = source.resolve().relative_to(REPO)
    except ValueError:
        shown = source
    with open(target, "w", encoding="utf-8", newline="") as f:
        f.write(f"# source: {shown}\n# snapshot: {today}\n")
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                _round(row[c], 6)
                if c in FLOAT_COLUMNS
                else _round(row[c], 0)
                if c.startswith("p_")
                else row[c]
                for c in columns
            )
    return target


def update_readme(readme: Path, hooks) -> bool:
    """Re-render the tables between each placeholder and its end marker; True if changed."""
    text = readme.read_text(encoding="utf-8")
    out, pos, changed = [], 0, False  # changed: a placeholder was found
    for match in hooks.RESULTS_MARKER.finditer(text):
        end = text.find(END_MARKER, match.end())
        if end < 0:
            raise SystemExit(f"{readme}: a results-table placeholder has no {END_MARKER}")
        name, options = hooks._parse_args(match.group("args"))
        table = hooks.results_table(name, hooks.RESULTS_DIR, **options)
        out += [text[pos : match.end()], "\n", table, END_MARKER]
        pos = end + len(END_MARKER)
        changed = True
    out.append(text[pos:])
    new = "".join(out)
    if changed and new != text:
        readme.write_text(new, encoding="utf-8")
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", help=f"results folders (default: {DEFAULT_FOLDERS})")
    parser.add_argument("--out", type=Path, default=DOCS / "results", help="snapshot folder")
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="snapshot date")
    parser.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    args = parser.parse_args(argv)
    folders = args.folders or DEFAULT_FOLDERS
    for name in folders:
        folder = Path(name)
        if not folder.is_absolute():
            folder = (Path.cwd() / folder) if (Path.cwd() / folder).exists() else REPO / folder
        if not (folder / "tables" / "accuracy.csv").is_file():
            print(
                f"skipped {name}: no tables/accuracy.csv (run its workflow first)", file=sys.stderr
            )
            continue
        print(f"wrote {snapshot(folder, args.out, args.date).relative_to(REPO)}")
    if not args.no_readme and update_readme(REPO / "README.md", load_hooks()):
        print("updated the README's results table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
