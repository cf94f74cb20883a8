"""Classify one audio file of the predict folder (Snakemake script of rule ``predict``)."""

# ruff: noqa: F821 (`snakemake` is injected by Snakemake)

import logging
import os
from pathlib import Path

from divconq.shared.scriptlog import log_to

# Everything on stderr, TensorFlow's C++ messages included, goes to the job's log.
log_to(snakemake.log[0], fds=True)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
# One BLAS thread, as `divconq predict` (see divconq.cli): faster on a busy machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from divconq.predict import Predictor, to_csv  # noqa: E402

log = logging.getLogger("predict")
models = list(snakemake.input.models)
predictor = Predictor(models, batch_size=snakemake.params.batch_size)
log.info("models: %s (%s, classes %s)", models, predictor.input, predictor.class_names)
try:
    pred = predictor.predict_file(snakemake.input.audio, rule=snakemake.params.rule)
except Exception:
    log.exception("cannot classify %s", snakemake.input.audio)
    raise
out = Path(snakemake.output[0])
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(to_csv([pred], windows=snakemake.params.windows))
log.info(
    "%s: %s (%s; %s) from %d windows of %.1f s in %.2f s",
    pred.file,
    pred.label,
    pred.rule,
    ", ".join(f"{c} {v:.3f}" for c, v in pred.top(3)),
    pred.n_windows,
    pred.duration_s,
    pred.seconds,
)
