"""divconq.shared.runlock: which leftover Snakemake locks are stale (real processes,
fake folder)."""

import json
import socket
import subprocess
import sys

from divconq.shared import runlock


def _folder(tmp_path, *records):
    sm = tmp_path / ".snakemake"
    (sm / "locks").mkdir(parents=True)
    (sm / "locks" / "0.input.lock").write_text("a\n")
    (sm / "locks" / "0.output.lock").write_text("b\n")
    (sm / runlock.RECORDS).mkdir()
    for i, rec in enumerate(records):
        (sm / runlock.RECORDS / f"r{i}.json").write_text(json.dumps(rec))
    return sm


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _clear(sm):
    messages = []
    removed = runlock.clear_stale_locks(sm, log=messages.append)
    return removed, " ".join(messages), sorted(p.name for p in (sm / "locks").glob("*.lock"))


def test_lock_of_a_dead_run_is_removed(tmp_path):
    sm = _folder(tmp_path, runlock.identity(_dead_pid()))
    removed, log, left = _clear(sm)
    assert removed and left == []
    assert "no longer exists" in log
    assert not list((sm / runlock.RECORDS).glob("*.json"))


def test_lock_of_a_live_run_is_kept(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        sm = _folder(tmp_path, runlock.identity(_dead_pid()), runlock.identity(live.pid))
        removed, log, left = _clear(sm)
    finally:
        live.kill()
        live.wait()
    assert not removed and left == ["0.input.lock", "0.output.lock"]
    assert f"running Snakemake (pid {live.pid}" in log


def test_reused_pid_is_not_the_owner(tmp_path):
    # The recorded pid now belongs to another process: same pid, another start time.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        rec = runlock.identity(other.pid)
        if rec["start"] is None:  # not Linux: a live pid counts as the owner
            return
        removed, _, left = _clear(_folder(tmp_path, rec | {"start": rec["start"] - 1}))
    finally:
        other.kill()
        other.wait()
    assert removed and left == []


def test_other_host_or_no_record_keeps_the_lock(tmp_path):
    other = runlock.identity(_dead_pid()) | {"host": socket.gethostname() + "-elsewhere"}
    removed, log, left = _clear(_folder(tmp_path / "a", other))
    assert not removed and len(left) == 2 and "--unlock" in log and "-elsewhere" in log
    removed, log, left = _clear(_folder(tmp_path / "b"))
    assert not removed and len(left) == 2 and "did not record" in log


def test_without_locks_dead_records_are_pruned(tmp_path):
    sm = _folder(tmp_path, runlock.identity(_dead_pid()))
    for lock in (sm / "locks").glob("*.lock"):
        lock.unlink()
    mine = runlock.record_owner(sm)
    assert runlock.clear_stale_locks(sm, log=print) is False
    assert [p.name for p in (sm / runlock.RECORDS).glob("*.json")] == [mine.name]
