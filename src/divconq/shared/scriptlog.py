"""The log of a Snakemake ``script:`` job: logging, warnings and the error that ends it.

Snakemake shows a failed job's ``log:`` file (``show-failed-logs``), but an
uncaught exception goes to stderr only, so ``results/logs/split.log`` stayed empty
when the split job died. :func:`log_to` is the first line of every script in
``workflow/scripts/``.
"""

from __future__ import annotations

import logging
import os
import sys

from divconq.shared.errors import AudioError, DamagedFileError, DatasetError

#: Errors whose message is the whole story for the user (it names the file and
#: what to do): logged as one line, without a traceback.
USER_ERRORS = (AudioError, DamagedFileError, DatasetError)


def log_to(path, fds: bool = False, fmt: str = "%(levelname)s %(message)s") -> None:
    """Send this process's logging, warnings and uncaught exception to ``path``.

    Parameters
    ----------
    path : str or Path
        The job's log file (``snakemake.log[0]``); appended to.
    fds : bool
        Also point file descriptors 1 and 2 at the log, so that what C++
        libraries print (TensorFlow) lands there too. Otherwise the uncaught
        error goes to the log and to stderr both.
    fmt : str
        Format of log records.
    """
    if fds:
        sys.stdout.flush()
        sys.stderr.flush()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=fmt, force=True)
    else:
        logging.basicConfig(filename=path, level=logging.INFO, format=fmt, force=True)
    logging.captureWarnings(True)

    def excepthook(kind, err, tb):
        if issubclass(kind, USER_ERRORS):
            logging.error("%s", err)
            if not fds:
                print(f"{kind.__name__}: {err}", file=sys.stderr)
        else:
            logging.error("uncaught exception", exc_info=(kind, err, tb))
            if not fds:
                sys.__excepthook__(kind, err, tb)
        logging.shutdown()

    sys.excepthook = excepthook
