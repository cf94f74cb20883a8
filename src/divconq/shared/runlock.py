"""Resume after a kill: clear a Snakemake lock left by a dead run, keep a live run's.

Snakemake locks a working folder with files ``.snakemake/locks/<n>.{input,output}.lock``
(the files each run reads and writes) and removes them when it ends. A run killed
with SIGKILL, by the out-of-memory killer or by a power loss leaves them behind,
and every later run stops with ``LockException`` until ``--unlock``.

The lock files do not say who wrote them, so each run records itself beside them
before Snakemake locks: ``.snakemake/divconq-runs/<host>.<pid>.json`` with the
host, process id, boot id and process start time (``/proc/<pid>/stat``, so that a
reused pid is not taken for the owner). At the next run, when lock files exist:

- every recorded run is dead (on this host: no such process, another process
  under its pid, or a reboot since): the locks are stale; they are removed and
  the removal is logged;
- a recorded run is alive: the locks are left, and Snakemake refuses to start (two
  runs in one folder would corrupt each other's outputs);
- a recorded run is on another host (a shared file system), or nothing is recorded
  (a run of another workflow or tool): the locks are left with the ``--unlock`` advice.

Records of dead runs are removed whenever no lock exists, so while a lock exists
the records include its owner's. Only the process the user started calls this
(``workflow.is_main_process``), never a job.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

RECORDS = "divconq-runs"


def _boot_id() -> str:
    """This boot's id on Linux (``""`` elsewhere): processes of an earlier boot are dead."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot (Linux), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces, so count after its ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def identity(pid: int | None = None) -> dict:
    """``{host, pid, boot, start, started}`` of a process (default: this one)."""
    pid = os.getpid() if pid is None else pid
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "boot": _boot_id(),
        "start": _start_ticks(pid),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def owner_state(record: dict) -> str:
    """``"alive"``, ``"dead"`` or ``"unknown"`` (another host) for a run record."""
    if record.get("host") != socket.gethostname():
        return "unknown"
    boot = _boot_id()
    if boot and record.get("boot") and record["boot"] != boot:
        return "dead"
    pid = int(record["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:
        pass  # a process of another user: it exists
    start = _start_ticks(pid)
    if start is not None and record.get("start") is not None and start != record["start"]:
        return "dead"
    return "alive"


def _records(snakemake_dir: Path) -> list[tuple[Path, dict]]:
    out = []
    for path in sorted((snakemake_dir / RECORDS).glob("*.json")):
        try:
            out.append((path, json.loads(path.read_text())))
        except (OSError, ValueError):
            continue  # half-written by a run killed while writing it: not an owner yet
    return out


def record_owner(snakemake_dir) -> Path:
    """Record this process as a run of the folder (before Snakemake locks it).

    Returns
    -------
    Path
        The record, ``<snakemake_dir>/divconq-runs/<host>.<pid>.json``.
    """
    me = identity()
    folder = Path(snakemake_dir) / RECORDS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{me['host']}.{me['pid']}.json"
    # Not divconq.shared.fileio's writer: its temporary name ends in .json too, and records
    # are found by that suffix; this one's ends in .part.
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(me))
    os.replace(tmp, path)
    return path


def clear_stale_locks(snakemake_dir, log=print) -> bool:
    """Remove Snakemake's lock files if every run that could hold them is dead.

    Parameters
    ----------
    snakemake_dir : path
        The ``.snakemake`` folder of the working directory.
    log : callable
        Takes one message (e.g. ``snakemake.logging.logger.warning``).

    Returns
    -------
    bool
        Whether stale locks were removed.
    """
    snakemake_dir = Path(snakemake_dir)
    locks = sorted((snakemake_dir / "locks").glob("*.lock"))
    me = (socket.gethostname(), os.getpid())
    others = [(p, r) for p, r in _records(snakemake_dir) if (r.get("host"), r.get("pid")) != me]
    states = [(p, r, owner_state(r)) for p, r in others]
    dead = [(p, r) for p, r, s in states if s == "dead"]
    if locks:
        alive = [r for _, r, s in states if s == "alive"]
        unknown = [r for _, r, s in states if s == "unknown"]
        if alive:
            r = alive[0]
            log(
                f"This folder is locked by a running Snakemake (pid {r['pid']}, started "
                f"{r['started']}); wait for it to end or stop it. Do not --unlock while it runs."
            )
            return False
        if unknown or not others:
            owner = (
                f"a run on {unknown[0]['host']}"
                if unknown
                else "a run this workflow did not record"
            )
            log(
                f"This folder is locked by {owner}; if no Snakemake runs in this folder any "
                "more, run `snakemake --unlock` once, then your command again."
            )
            return False
        for lock in locks:
            lock.unlink(missing_ok=True)
        owners = ", ".join(f"pid {r['pid']} started {r['started']}" for _, r in dead)
        log(f"Removed the lock left by a run that no longer exists ({owners}); resuming.")
    for path, _ in dead:
        path.unlink(missing_ok=True)
    return bool(locks)
