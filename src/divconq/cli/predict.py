"""The ``divconq predict`` command: files in, one prediction per file out.

:func:`run` expands the command line's files and folders (:func:`collect_files`),
loads the model(s) with TensorFlow's start-up notices filtered out of stderr,
classifies the files one by one with a progress bar (``tqdm``, on a terminal
only) and writes the table, JSON or CSV and the optional plots of
:mod:`divconq.predict.output`. Its arguments are parsed by
:func:`divconq.cli.build_parser`.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

from divconq.data.audio import decoder_chatter_to_log, find_audio_files
from divconq.evaluate.rules import DEFAULT as DEFAULT_RULE
from divconq.predict import ModelDirError, Predictor, output
from divconq.predict.folders import CHAMPION, champion_summary
from divconq.shared.errors import AudioError

__all__ = ["collect_files", "predict_files", "progress_bar", "run"]


def collect_files(paths) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files and folders into the audio files to classify.

    A file named on the command line is taken whatever its extension (decoding
    decides); a folder contributes its files with an audio extension
    (:data:`divconq.data.audio.AUDIO_EXTENSIONS`), recursively, sorted, hidden files
    skipped. The result keeps the command-line order and drops repeats.

    Returns
    -------
    files : list of Path
    missing : list of (path, reason)
        Paths that do not exist, or folders without audio.
    """
    files, missing, seen = [], [], set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = find_audio_files(p)
            if not found:
                missing.append((str(p), "folder holds no audio file"))
        elif p.exists():
            found = [p]
        else:
            missing.append((str(p), "no such file or folder"))
            found = []
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files, missing


#: TensorFlow's start-up notices on stderr that say nothing to a ``predict`` user.
_TF_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} .*(oneDNN custom operations|cpu_feature_guard|TensorFlow binary is optimized)"
    r"|To enable the following instructions:.*rebuild TensorFlow)"
)


def _import_tensorflow_quietly() -> None:
    """Import Keras/TensorFlow with their C++ start-up notices filtered out of stderr.

    ``TF_CPP_MIN_LOG_LEVEL`` no longer silences them (TensorFlow 2.20+), so file
    descriptor 2 goes to a temporary file during the import; every other line is
    written back to stderr afterwards.
    """
    if "keras" in sys.modules:
        return
    import tempfile

    from divconq.shared.sysinfo import prefer_onednn

    prefer_onednn()

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            import keras  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode(errors="replace").splitlines():
                if line.strip() and not _TF_NOISE.match(line):
                    print(line, file=sys.stderr)


def progress_bar(total: int, enabled: bool | None, stream=None):
    """A ``tqdm`` bar over ``total`` files on ``stream`` (stderr).

    ``enabled``: True shows it, False hides it, None shows it on a terminal only.
    """
    from tqdm import tqdm

    return tqdm(
        total=total,
        disable=None if enabled is None else not enabled,
        file=stream or sys.stderr,
        unit="file",
        leave=True,
    )


def predict_files(files, predictor: Predictor, rule: str = DEFAULT_RULE, bar=None, on_error=None):
    """Classify files one after the other; a file that fails is reported and skipped.

    Parameters
    ----------
    files : list of path
    predictor : Predictor
    rule : str
        A name of :data:`divconq.evaluate.rules.RULES`.
    bar : tqdm, optional
        Advanced by one per file, showing the file being classified (see
        :func:`progress_bar`); closed at the end.
    on_error : callable(path, message), optional
        Called for each failed file (default: nothing).

    Returns
    -------
    preds : list of FilePrediction
    errors : list of (file, message)
    """
    preds, errors = [], []
    for f in files:
        if bar is not None:
            name = str(f)
            bar.set_postfix_str(name if len(name) <= 40 else "..." + name[-37:])
        try:
            preds.append(predictor.predict_file(f, rule=rule))
        except (AudioError, ValueError, RuntimeError, OSError, MemoryError) as err:
            msg = str(err) if isinstance(err, AudioError) else f"{f}: {err}"
            errors.append((str(f), msg))
            if on_error is not None:
                on_error(f, msg)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.set_postfix_str("")
        bar.close()
    return preds, errors


def _err(msg: str) -> None:
    print(f"divconq predict: {msg}", file=sys.stderr, flush=True)


def _write_output(args, preds, errors) -> None:
    """The predictions in ``args.format`` to ``args.output`` or standard output."""
    if args.format == "json":
        text = output.to_json(preds, errors, top=args.top, windows=args.windows, model=args.model)
    elif args.format == "csv":
        text = output.to_csv(preds, windows=args.windows)
    else:
        text = output.to_table(preds, top=args.top, windows=args.windows)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _write_plots(plot, preds, errors) -> None:
    """One timeline PNG per prediction; a failed plot is an error, not a lost prediction."""
    for p, png in zip(preds, output.plot_paths(plot, [p.file for p in preds]), strict=True):
        try:
            output.plot_timeline(p, png)
        except Exception as e:  # a plot must not lose the predictions
            errors.append((p.file, f"plot {png}: {e}"))
            _err(f"{p.file}: cannot draw {png}: {e}")


def run(args) -> int:
    """``divconq predict``: 0 when every file was classified, 1 when some failed, 2 on a bad model.

    Parameters
    ----------
    args : argparse.Namespace
        As parsed by :func:`divconq.cli.build_parser` (``paths``, ``model``,
        ``rule``, ``format``, ``windows``, ``plot``, ``top``, ``batch_size``,
        ``output``, ``no_progress``).
    """
    # TensorFlow's C++ start-up notices are not for this command's users.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    files, missing = collect_files(args.paths)
    _import_tensorflow_quietly()
    # Each model of an ensemble traces its inference function once (in the warm-up),
    # which TensorFlow's Python logger reports as "excessive retracing".
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    for f, reason in missing:
        _err(f"{f}: {reason}")
    if args.model is None:
        if not CHAMPION.is_dir():
            _err(
                f"no --model given and no chosen model in {CHAMPION}: make one with "
                "`snakemake --cores all --configfile presets/collection.yaml "
                "--config dataset='{source: folder, path: DIR}'`, or name a model folder "
                "with --model"
            )
            return 2
        args.model = str(CHAMPION)
        _err(f"using {champion_summary(CHAMPION)}")
    try:
        predictor = Predictor(args.model, batch_size=args.batch_size)
    except ModelDirError as e:
        _err(str(e))
        return 2
    any_folder = any(Path(p).is_dir() for p in args.paths)
    # On a terminal only (tqdm's None), for a folder of several files.
    wanted = any_folder and len(files) > 1 and not args.no_progress
    bar = progress_bar(len(files), None if wanted else False)

    def report(f, msg):
        if bar.disable:
            _err(msg)
        else:
            bar.write(f"divconq predict: {msg}", file=sys.stderr)

    # libmpg123 prints its resync notes on a damaged MP3 straight to fd 2.
    with decoder_chatter_to_log():
        preds, errors = predict_files(files, predictor, args.rule, bar, on_error=report)
    errors = [(f, r) for f, r in missing] + errors
    _write_output(args, preds, errors)
    if args.plot and preds:
        _write_plots(args.plot, preds, errors)
    return 1 if errors or not files else 0
