"""Helpers of tests/cluster/test_cluster.sh (the SLURM profile test).

checks.py overlay PROFILE OUTDIR --partition P --cpus N --mem-mb M --logdir D
    write OUTDIR/config.yaml: the local overrides for the test cluster, given as a
    second --profile after profiles/slurm (later profiles win per top-level key)
checks.py slurm SNAKEMAKE_LOG --partition P --logdir D
    assert the run's jobs really went through SLURM
checks.py compare LOCAL_RESULTS SLURM_RESULTS
    assert both result folders hold the same results
"""

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

# Not compared: logs, benchmarks, Snakemake's markers, wall-clock fields, and
# files that embed dates (model.keras, figures: their presence is checked).
SKIP_DIRS = ("logs", "benchmarks")
# fingerprints.tsv: the inventory's cache of each source's stat signature (mtimes, inode);
# the fingerprints themselves are compared in tracks.csv.
SKIP_NAMES = (".snakemake_timestamp", "fingerprints.tsv")
# Measurements of a run (times, CPU seconds, peak memory), not its results.
TIMING_FIELDS = {
    *("time_s", "load_s", "fit_s_this_run", "epoch_s_total", "total_s_this_run"),
    *("cpu_s", "peak_rss_mb"),
}
TEXT = {".txt", ".md", ".html", ".yaml", ".yml"}
BYTES = {".wav", ".mp3", ".npy", ".npz"}
FLOAT_RTOL = 1e-6


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


# --- overlay -------------------------------------------------------------------


def overlay(args):
    """Test-cluster overrides of profiles/slurm, keeping everything else of it."""
    profile = yaml.safe_load(Path(args.profile).read_text())
    # Every job has to fit on the one node, and `cpus` of them side by side.
    cap = args.mem_mb // args.cpus

    def fit(resources):
        out = {}
        for key, value in resources.items():
            if key in ("gpu", "gpu_model", "gres", "cpus_per_gpu"):
                continue  # the test node has no GPU
            if key == "mem_mb":
                value = f"min({value}, {cap})"
            if key == "slurm_partition":
                value = args.partition
            out[key] = value
        return out

    default = fit(profile.get("default-resources") or {})
    default["slurm_partition"] = args.partition
    rules = {rule: fit(res) for rule, res in (profile.get("set-resources") or {}).items()}
    local = {
        "cores": args.cpus,
        "default-resources": default,
        "set-resources": rules,
        # No accounting on the test cluster: no account, status from squeue
        # (finished jobs stay visible for MinJobAge=600 s).
        "slurm-no-account": True,
        "slurm-status-command": "squeue",
        # Jobs take seconds here: start polling after 2 s, not the default 40 s.
        "slurm-init-seconds-before-status-checks": 2,
        "slurm-keep-successful-logs": True,
        "slurm-logdir": str(args.logdir),
    }
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(local, sort_keys=False)
    (out / "config.yaml").write_text(
        "# Local overrides for the throw-away test cluster (tests/cluster/checks.py).\n" + text
    )
    print(text, end="")


# --- slurm ---------------------------------------------------------------------


def slurm_jobs():
    """(id, array id, state, partition, comment) of every job the test cluster knows."""
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%F|%T|%P|%k"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [tuple(line.split("|", 4)) for line in out.splitlines() if line.strip()]


def check_slurm(args):
    log = Path(args.log).read_text()
    finished = re.findall(r"^Finished jobid: (\d+) \(Rule: (\w+)\)", log, re.M)
    rules = Counter(rule for _, rule in finished)
    if not rules:
        fail(f"no finished Snakemake jobs in {args.log}")
    twice = [job for job, n in Counter(finished).items() if n > 1]
    if twice:
        fail(f"{len(twice)} Snakemake jobs ran more than once, e.g. {twice[:3]}")
    jobs = slurm_jobs()
    if not jobs:
        fail("the test cluster ran no jobs")
    submissions = {array_id for _, array_id, *_ in jobs}
    print(
        f"{len(jobs)} SLURM jobs from {len(submissions)} submissions for "
        f"{sum(rules.values())} Snakemake jobs {dict(rules)}:"
    )
    by_submission = {}
    for jobid, array_id, state, partition, comment in jobs:
        by_submission.setdefault(array_id, []).append((jobid, state, partition, comment))
        if state != "COMPLETED":
            fail(f"SLURM job {jobid} ({comment}) is {state}")
        if partition != args.partition:
            fail(f"SLURM job {jobid} ran in partition {partition}, not {args.partition}")
        if not list(Path(args.logdir).rglob(f"{jobid}.log")):
            fail(f"no plugin log {jobid}.log under {args.logdir}")
    for array_id, members in sorted(by_submission.items(), key=lambda kv: int(kv[0])):
        kind = f"array of {len(members)}" if "_" in members[0][0] else "job"
        _, state, partition, comment = members[0]
        print(f"  {array_id:>5} {kind:<12} {state:<10} {partition:<8} {comment}")

    # The plugin's comment: rule_<rule>[_wildcards_<first job's wildcards>].
    def of_rule(comment, rule):
        return comment == f"rule_{rule}" or comment.startswith(f"rule_{rule}_wildcards_")

    for rule in rules:
        if not any(of_rule(comment, rule) for *_, comment in jobs):
            fail(f"rule {rule} ran, but not through SLURM")
    # Array rules of the profile: fewer submissions than jobs.
    profile = yaml.safe_load(Path(args.profile).read_text())
    array_rules = [r.strip() for r in str(profile.get("slurm-array-jobs") or "").split(",")]
    for rule in (r for r in array_rules if rules.get(r, 0) > 1):
        mine = [(jobid, array_id) for jobid, array_id, *_, c in jobs if of_rule(c, rule)]
        arrays = {array_id for jobid, array_id in mine if "_" in jobid}
        n_sub = len({array_id for _, array_id in mine})
        print(f"  {rule}: {rules[rule]} jobs, {n_sub} submissions ({len(arrays)} arrays)")
        if not arrays or n_sub >= rules[rule]:
            fail(f"{rule} jobs were not submitted as arrays")


# --- compare -------------------------------------------------------------------


def result_files(root):
    return {
        p.relative_to(root).as_posix()
        for p in Path(root).rglob("*")
        if p.is_file()
        and p.relative_to(root).parts[0] not in SKIP_DIRS
        and p.name not in SKIP_NAMES
    }


def normalized_text(path, root):
    return path.read_text().replace(str(Path(root).resolve()), "<results>")


def compare_csv(a, b, root_a, root_b, rel):
    import io

    import numpy as np
    import pandas as pd

    sep = "\t" if rel.endswith(".tsv") else ","
    da = pd.read_csv(io.StringIO(normalized_text(a, root_a)), sep=sep)
    db = pd.read_csv(io.StringIO(normalized_text(b, root_b)), sep=sep)
    if list(da.columns) != list(db.columns) or da.shape != db.shape:
        return f"columns or shape differ: {list(da.columns)} {da.shape} vs {db.shape}"
    for col in (c for c in da.columns if c not in TIMING_FIELDS):
        x, y = da[col], db[col]
        if pd.api.types.is_float_dtype(x) and pd.api.types.is_float_dtype(y):
            if not np.allclose(x, y, rtol=FLOAT_RTOL, atol=1e-12, equal_nan=True):
                return f"column {col}: max difference {np.nanmax(np.abs(x - y))}"
        elif not x.equals(y):
            return f"column {col} differs"
    return None


def compare_json(a, b, root_a, root_b):
    import json
    import math

    def diff(x, y, where):
        if isinstance(x, dict) and isinstance(y, dict):
            if sorted(x) != sorted(y):
                return f"{where}: keys {sorted(x)} vs {sorted(y)}"
            for key in x:
                if key not in TIMING_FIELDS and (d := diff(x[key], y[key], f"{where}.{key}")):
                    return d
            return None
        if isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return f"{where}: {len(x)} vs {len(y)} items"
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                if d := diff(u, v, f"{where}[{i}]"):
                    return d
            return None
        if isinstance(x, float) and isinstance(y, float):
            same = math.isclose(x, y, rel_tol=FLOAT_RTOL, abs_tol=1e-12)
            return None if same else f"{where}: {x} vs {y}"
        return None if x == y else f"{where}: {x!r} vs {y!r}"

    return diff(json.loads(normalized_text(a, root_a)), json.loads(normalized_text(b, root_b)), "$")


def compare_h5(a, b, root_a, root_b):
    import h5py
    import numpy as np

    def norm(value, root):
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str):
            return value.replace(str(Path(root).resolve()), "<results>")
        return value

    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a, names_b = [], []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        if names_a != names_b:
            return f"datasets differ: {names_a} vs {names_b}"
        for name in ["", *names_a]:
            oa, ob = (fa[name], fb[name]) if name else (fa, fb)
            attrs_a = {k: norm(v, root_a) for k, v in oa.attrs.items()}
            attrs_b = {k: norm(v, root_b) for k, v in ob.attrs.items()}
            if sorted(attrs_a) != sorted(attrs_b):
                return f"{name or '/'}: attributes differ"
            for key, value in attrs_a.items():
                if not np.array_equal(np.asarray(value), np.asarray(attrs_b[key])):
                    return f"{name or '/'}: attribute {key}: {value!r} vs {attrs_b[key]!r}"
            if isinstance(oa, h5py.Dataset):
                x, y = oa[()], ob[()]
                if np.issubdtype(np.asarray(x).dtype, np.floating):
                    same = np.shape(x) == np.shape(y) and np.allclose(
                        x, y, rtol=FLOAT_RTOL, atol=1e-12, equal_nan=True
                    )
                else:
                    same = np.array_equal(x, y)
                if not same:
                    return f"dataset {name} differs"
    return None


def compare(args):
    root_a, root_b = Path(args.a), Path(args.b)
    files_a, files_b = result_files(root_a), result_files(root_b)
    if files_a != files_b:
        fail(
            f"different files: only local {sorted(files_a - files_b)[:10]}, "
            f"only SLURM {sorted(files_b - files_a)[:10]}"
        )
    if not files_a:
        fail(f"no results in {root_a}")
    counted = Counter()
    problems = []
    for rel in sorted(files_a):
        a, b = root_a / rel, root_b / rel
        suffix = Path(rel).suffix.lower()
        if suffix in (".csv", ".tsv"):
            problem, kind = compare_csv(a, b, root_a, root_b, rel), "tables"
        elif suffix == ".json":
            problem, kind = compare_json(a, b, root_a, root_b), "json"
        elif suffix in TEXT:
            same = normalized_text(a, root_a) == normalized_text(b, root_b)
            problem, kind = (None if same else "text differs"), "text"
        elif suffix == ".h5":
            problem, kind = compare_h5(a, b, root_a, root_b), "hdf5"
        elif suffix in BYTES:
            problem, kind = (None if a.read_bytes() == b.read_bytes() else "bytes differ"), suffix
        else:
            problem, kind = None, "present only (not compared)"
        counted[kind] += 1
        if problem:
            problems.append(f"{rel}: {problem}")
    print(f"compared {len(files_a)} files: {dict(counted)}")
    if problems:
        fail("results differ:\n  " + "\n  ".join(problems[:20]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("overlay")
    p.add_argument("profile")
    p.add_argument("outdir")
    p.add_argument("--partition", required=True)
    p.add_argument("--cpus", type=int, required=True)
    p.add_argument("--mem-mb", type=int, required=True)
    p.add_argument("--logdir", required=True)
    p.set_defaults(func=overlay)
    p = sub.add_parser("slurm")
    p.add_argument("log")
    p.add_argument("--profile", required=True, help="its config.yaml")
    p.add_argument("--partition", required=True)
    p.add_argument("--logdir", required=True)
    p.set_defaults(func=check_slurm)
    p = sub.add_parser("compare")
    p.add_argument("a")
    p.add_argument("b")
    p.set_defaults(func=compare)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
