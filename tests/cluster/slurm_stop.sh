#!/usr/bin/env bash
# Stop the test cluster tests/cluster/slurm_start.sh started in DIR: cancel its
# jobs, then stop slurmd, slurmctld and munged by the pids recorded in DIR.
set -uo pipefail
DIR=${1:?usage: slurm_stop.sh DIR}

if [ -f "$DIR/slurm.conf" ] && [ -s "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
    export SLURM_CONF="$DIR/slurm.conf"
    active() { timeout 10 squeue --noheader --format=%i --states=PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED 2>/dev/null; }
    ids=$(active)
    if [ -n "$ids" ]; then
        # shellcheck disable=SC2086
        timeout 10 scancel $ids 2>/dev/null
        for _ in $(seq 50); do
            [ -z "$(active)" ] && break
            sleep 0.2
        done
    fi
fi

for name in slurmd slurmctld munged; do
    pidfile="$DIR/$name.pid"
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$pidfile"
done
exit 0
