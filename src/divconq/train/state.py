"""The resume state of a training run: a JSON file and the files it names.

After every epoch the full training state (the model with its optimizer, the
early-stopping and learning-rate schedule counters, the best validation loss
and its weights, the history) is written to a *state directory* next to the
output, ``results/models/<experiment>/seed<N>.resume/``. The state carries a
fingerprint of everything that shapes the run; a state that does not match is
discarded. No TensorFlow here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

#: Version of the resume state layout; a state of another version is discarded.
#: 2: checkpoints and best weights hold fused batch-norm layers (divconq.models.batchnorm).
STATE_VERSION = 2


def fingerprint(obj) -> str:
    """Stable hash of a JSON-able object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def default_state_dir(out_dir) -> Path:
    """``results/models/<exp>/seed<N>`` -> ``results/models/<exp>/seed<N>.resume``."""
    out_dir = Path(out_dir)
    return out_dir.with_name(out_dir.name + ".resume")


def new_state(fp: str, seed: int) -> dict:
    """The state of a run before its first epoch."""
    return {
        "version": STATE_VERSION,
        "fingerprint": fp,
        "seed": int(seed),
        "epoch": -1,
        "history": [],
        "best_value": None,
        "best_epoch": None,
        "best_weights": None,
        "stopped": False,
        "callbacks": {},
        "resumes": 0,
    }


def clear_dir(folder, keep=()) -> None:
    """Remove everything in ``folder`` but the names in ``keep``."""
    for f in Path(folder).iterdir():
        if f.name not in keep:
            f.unlink() if f.is_file() else shutil.rmtree(f, ignore_errors=True)


def load_state(state_dir, expected_fingerprint: str) -> dict | None:
    """The resume state in ``state_dir`` if it is complete and matches, else None."""
    path = Path(state_dir) / "state.json"
    if not path.is_file():
        return None
    try:
        st = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        log.warning("unreadable resume state %s (%s): starting over", path, err)
        return None
    if st.get("version") != STATE_VERSION or st.get("fingerprint") != expected_fingerprint:
        log.warning("resume state %s is from another configuration: starting over", path)
        return None
    needed = [st.get("checkpoint"), st.get("best_weights")]
    if any(n is None or not (Path(state_dir) / n).is_file() for n in needed):
        log.warning("resume state %s names missing files: starting over", path)
        return None
    return st
