"""How each selection criterion would have chosen, on a finished run's evaluations.

For every criterion of :data:`divconq.evaluate.selection.CRITERIA`, with and without the
one-standard-error rule, the choice per fold (made on that fold's validation tracks
only) and the test track accuracy of the whole procedure (nested under k-fold), beside
the best single experiment's in hindsight. Reads ``<results>/eval/*/**/tracks.csv`` and
the matching ``models/*/**/training.json``; trains nothing.

Usage::

    python benchmarks/selection_criteria.py results/realmusic_collection
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from divconq.evaluate.selection import CRITERIA, choose, load_runs, selection_report


def runs_of(results: Path):
    """Every (tracks.csv, model folder, experiment, fold, seed) of a results folder."""
    out = []
    for tracks in sorted((results / "eval").glob("**/tracks.csv")):
        rel = tracks.parent.relative_to(results / "eval")
        m = re.fullmatch(r"([^/]+)/(?:fold(\d+)/)?seed(\d+)", rel.as_posix())
        if not m:
            continue
        experiment, fold, seed = m.group(1), m.group(2), int(m.group(3))
        out.append(
            (
                tracks,
                results / "models" / rel,
                experiment,
                None if fold is None else int(fold),
                seed,
            )
        )
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--out", type=Path, help="write the rows as JSON")
    args = parser.parse_args(argv)
    found = runs_of(args.results)
    runs = load_runs(*(list(col) for col in zip(*found, strict=True)))
    rows = []
    for criterion in CRITERIA:
        for one_se in (False, True):
            report = selection_report(runs, choose(runs, criterion, one_se), criterion, one_se)
            rows.append(
                {
                    "criterion": criterion,
                    "one_se": one_se,
                    "choices": [f["chosen"] for f in report["folds"]],
                    "procedure_test_track_accuracy": report["test"]["procedure_track_accuracy"],
                }
            )
            print(
                f"{criterion:16s} one_se={one_se!s:5s} "
                f"test {100 * rows[-1]['procedure_test_track_accuracy']:.1f} %  "
                f"choices {rows[-1]['choices']}"
            )
    each = report["test"]["per_experiment_track_accuracy"]
    for e, v in sorted(each.items(), key=lambda kv: -kv[1]):
        print(f"  {e:16s} test {100 * v:.1f} % (every fold)")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "per_experiment": each}, indent=1) + "\n")


if __name__ == "__main__":
    main()
