#!/usr/bin/env bash
# make test-cluster: run the workflow on a real (throw-away, single-node) SLURM
# through profiles/slurm and check that it equals a local run.
#
#   1. start munged, slurmctld and slurmd under a temp dir (tests/cluster/slurm_start.sh)
#   2. run CONFIG to TARGET locally (--cores N), the reference
#   3. run the same through `--profile profiles/slurm --profile <local overrides>`
#      (overrides: partition, no accounting, squeue status, memory capped to the node;
#      tests/cluster/checks.py overlay writes them and prints them)
#   4. check that every rule ran as a SLURM job (squeue records + the plugin's
#      SLURM logs), per-track jobs as job arrays, no job run twice, and that both
#      result folders agree
#   5. stop the daemons (also on failure or Ctrl-C)
#
# Needs root (slurmd) and apt-get for slurm-wlm/munge when they are missing.
# Environment: TARGET, CONFIG, PROFILE (default profiles/slurm), VENV (default .venv),
# KEEP=1 keeps the temp dir, LIMIT (seconds, default 900) for each Snakemake run.
set -euo pipefail

# What to build, relative to the results folder, and from which config files
# (e.g. TARGET=split/manifest.csv CONFIG=tests/configs/tiny.yaml: the data stage).
TARGET=${TARGET:-tables/accuracy.csv}
CONFIG=${CONFIG:-tests/configs/tiny.yaml tests/configs/tiny_training.yaml}
PROFILE=${PROFILE:-profiles/slurm}
PARTITION=divconq
LIMIT=${LIMIT:-900}

cd "$(dirname "$0")/../.."
REPO=$(pwd)
VENV=${VENV:-.venv}
PY=$(cd "$VENV/bin" && pwd)/python
[ -x "$PY" ] || { echo "no $PY: run make install first" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/divconq-cluster.XXXXXX")
cleanup() {
    rc=$?
    "$REPO/tests/cluster/slurm_stop.sh" "$WORK/cluster"
    if [ "${KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then
        echo "test-cluster: files kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { echo "== [${SECONDS}s] $*"; }

step "starting SLURM in $WORK/cluster"
SLURM_TEST_PARTITION=$PARTITION tests/cluster/slurm_start.sh "$WORK/cluster"
# shellcheck disable=SC1091
source "$WORK/cluster/env.sh"
CPUS=$(scontrol show node -o | sed -n 's/.* CPUTot=\([0-9]*\) .*/\1/p' | head -n 1)
MEM=$(scontrol show node -o | sed -n 's/.* RealMemory=\([0-9]*\) .*/\1/p' | head -n 1)
sinfo

step "local overrides of $PROFILE ($WORK/profile/config.yaml)"
"$PY" tests/cluster/checks.py overlay "$PROFILE/config.yaml" "$WORK/profile" \
    --partition "$PARTITION" --cpus "$CPUS" --mem-mb "$MEM" --logdir "$WORK/slurm_logs"

read -r -a CONFIGS <<<"$CONFIG"
SMK=(timeout -k 10 "$LIMIT" "$PY" -m snakemake --configfile "${CONFIGS[@]}")

step "local run: $CONFIG -> $TARGET"
"${SMK[@]}" --cores "$CPUS" --config results="$WORK/results-local" -- "$WORK/results-local/$TARGET" \
    >"$WORK/local.log" 2>&1 || { tail -n 40 "$WORK/local.log"; exit 1; }

step "SLURM run: --profile $PROFILE --profile $WORK/profile"
start=$SECONDS
"${SMK[@]}" --profile "$PROFILE" --profile "$WORK/profile" \
    --config results="$WORK/results-slurm" -- "$WORK/results-slurm/$TARGET" \
    >"$WORK/slurm.log" 2>&1 || {
    tail -n 60 "$WORK/slurm.log"
    find "$WORK/slurm_logs" -name '*.log' -exec tail -n 30 {} + 2>/dev/null | tail -n 60
    exit 1
}
step "SLURM run took $((SECONDS - start))s"
[ -s "$WORK/results-slurm/$TARGET" ] || { echo "FAIL: no $TARGET from the SLURM run" >&2; exit 1; }

step "jobs went through SLURM"
"$PY" tests/cluster/checks.py slurm "$WORK/slurm.log" --profile "$PROFILE/config.yaml" \
    --partition "$PARTITION" --logdir "$WORK/slurm_logs"

step "SLURM results equal local results"
"$PY" tests/cluster/checks.py compare "$WORK/results-local" "$WORK/results-slurm"

step "test-cluster passed ($TARGET)"
