"""Resume after kill -9 with the README's command alone; a live run's lock still holds.

A whole Snakemake run (its process group: Snakemake and its jobs) is killed with
SIGKILL, as a power loss or the out-of-memory killer would, and the same command
is run again: it must clear the stale lock itself (divconq.shared.runlock), rerun what
was cut short and end with the tables of an uninterrupted run.
"""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import REPO

pytestmark = pytest.mark.slow

CONFIGS = [str(REPO / "tests" / "configs" / f) for f in ("tiny.yaml", "tiny_training.yaml")]
LOCKS = REPO / ".snakemake" / "locks"
TABLES = ("accuracy.csv", "accuracy_per_seed.csv")


def command(results, *targets):
    """The README's `snakemake --cores N`, with the tiny configs and a results folder."""
    return [
        sys.executable, "-m", "snakemake", "--cores", "2", *targets,
        "--configfile", *CONFIGS, "--config", f"results={results}",
    ]  # fmt: skip


def run(results, *targets):
    proc = subprocess.run(command(results, *targets), cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def start(results, log, *targets):
    """Start a run in its own process group (so that killpg reaches its jobs too)."""
    return subprocess.Popen(
        command(results, *targets),
        cwd=REPO,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(proc, ready, timeout=600):
    """Poll ``ready()`` until it is true; fails if the run ends or the time is up."""
    end = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "the run ended before the kill point"
        assert time.monotonic() < end, "kill point not reached"
        time.sleep(0.05)


def kill_run(proc):
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def tables(results):
    return {name: pd.read_csv(results / "tables" / name) for name in TABLES}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    results = tmp_path_factory.mktemp("reference") / "results"
    run(results)
    return tables(results)


def _hdf5_written(results, n=3):
    return lambda: len(list((results / "spectrograms").glob("*/*.h5"))) >= n


def _evaluation_started(results):
    return lambda: any((results / "logs" / "evaluate").rglob("*.log"))


@pytest.mark.parametrize("point", ["data", "evaluation"])
def test_kill_9_then_the_same_command_resumes(tmp_path, reference, point):
    results = tmp_path / "results"
    proc = start(results, tmp_path / "killed.log")
    ready = _hdf5_written(results) if point == "data" else _evaluation_started(results)
    wait_for(proc, ready)
    kill_run(proc)
    assert list(LOCKS.glob("*.lock")), "the killed run should have left its lock"
    out = run(results)
    assert "Removed the lock left by a run that no longer exists" in out
    assert not list(LOCKS.glob("*.lock"))
    got = tables(results)
    for name in TABLES:
        pd.testing.assert_frame_equal(got[name], reference[name])
    assert not list(results.rglob("*.part")) and not list(results.rglob("*.resume"))


def test_a_live_run_keeps_its_lock(tmp_path):
    results = tmp_path / "results"
    first = start(results, tmp_path / "first.log", "data")
    try:
        wait_for(first, lambda: any(LOCKS.glob("*.lock")))
        second = subprocess.run(command(results, "data"), cwd=REPO, capture_output=True, text=True)
        assert second.returncode != 0
        out = second.stdout + second.stderr
        assert f"locked by a running Snakemake (pid {first.pid}" in out, out
        assert first.poll() is None, "the first run must go on"
    finally:
        rc = first.wait(timeout=900)
    assert rc == 0, (tmp_path / "first.log").read_text()[-3000:]
    assert (results / "split" / "manifest.csv").exists()
    assert not list(LOCKS.glob("*.lock"))


def test_a_killed_batch_keeps_its_finished_tracks(tmp_path):
    """All 15 tracks in one data batch, killed after its third HDF5: the rerun makes
    the rest and leaves the finished tracks' files as they were."""
    from divconq.data.batch import read_listing

    results = tmp_path / "results"
    cmd = [*command(results, "data"), "data={tracks_per_job: 15}"]
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_for(proc, _hdf5_written(results))
    kill_run(proc)
    done = {p: p.stat().st_mtime_ns for p in (results / "spectrograms").glob("*/*.h5")}
    listing = results / "data_batches" / "00000.csv"
    assert 3 <= len(done) < 15 and not listing.exists()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in done} == done
    made = {row["spectrogram"]: row["made"] for row in read_listing(listing)}
    assert len(made) == 15
    assert {p for p, m in made.items() if m == "False"} == {str(p) for p in done}
