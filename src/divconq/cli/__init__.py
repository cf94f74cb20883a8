"""Command-line entry point: ``divconq <command>``.

The per-track commands (``mp3``, ``features``, ``synth``) are what the
workflow's per-track rules run. They import only what they need, so a job costs
a fraction of a Snakemake ``script:`` job (which loads Snakemake itself).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def _cmd_mp3(args) -> int:
    from divconq.data.mp3 import to_mp3

    to_mp3(args.src, args.dst, bitrate=args.bitrate, quality=args.quality)
    return 0


def _feature_params(args):
    from divconq.data.features import FeatureParams

    return FeatureParams.from_dict(json.loads(args.params)) if args.params else FeatureParams()


def _cmd_features(args) -> int:
    from divconq.data.features import write_track_file

    params, source = _feature_params(args), args.source or args.src
    write_track_file(
        args.src, args.dst, params, args.track, not args.no_clip, source, **_recorded_settings(args)
    )
    return 0


def _recorded_settings(args) -> dict:
    """How the audio was read, as a features file records it (none recorded when
    neither ``--features-from source`` nor ``--mp3-bitrate`` is given)."""
    from divconq.data.batch import recorded_settings

    if args.features_from == "source":
        return recorded_settings("source")
    if args.mp3_bitrate is None:
        return {}
    return recorded_settings("mp3", args.mp3_bitrate, args.mp3_quality)


def _cmd_data_batch(args) -> int:
    from divconq.data.batch import LISTING_COLUMNS, batch_rows, run_batch
    from divconq.data.inventory import read_tracks

    params = _feature_params(args)
    rows = batch_rows(read_tracks(args.tracks), args.batch, args.tracks_per_job)
    listing, failed = run_batch(
        rows, args.results, params, not args.no_clip, args.bitrate, args.quality,
        features_from=args.features_from,
    )  # fmt: skip
    return _finish_batch(args, rows, listing, failed, LISTING_COLUMNS)


def _embedding_params(args):
    from divconq.data.embeddings import EmbeddingParams

    return EmbeddingParams.from_dict(json.loads(args.params)) if args.params else EmbeddingParams()


def _cmd_embed(args) -> int:
    from divconq.data.embeddings import write_track_file
    from divconq.evaluate.inference import set_threads

    params = _embedding_params(args)
    set_threads(args.threads)
    n = write_track_file(args.src, args.dst, params, args.track)
    logging.getLogger("divconq.embed").info("%s: %d patches of %s", args.track, n, params.model)
    return 0


def _cmd_musicnn_mel(args) -> int:
    from divconq.data.embeddings import write_track_mel_file

    write_track_mel_file(args.src, args.dst, args.track)
    return 0


def _finish_batch(args, rows, listing, failed, columns) -> int:
    """Log a batch's counts; write its listing if every track is done, else name the
    failed files and return 2 (no listing: the batch is not done, and its finished
    tracks are skipped when it runs again)."""
    from divconq.data.batch import write_listing

    made = sum(row["made"] for row in listing)
    logging.getLogger("divconq.batch").info(
        "batch %s: %d tracks, %d made, %d already current, %d failed",
        args.batch,
        len(rows),
        made,
        len(listing) - made,
        len(failed),
    )
    if failed:
        for track, source, reason in failed:
            print(f"divconq {args.command}: {source} ({track}): {reason}", file=sys.stderr)
        return 2
    write_listing(args.out, listing, columns)
    return 0


def _cmd_embed_batch(args) -> int:
    from divconq.data.batch import FILE_LISTING_COLUMNS, batch_rows, run_embedding_batch
    from divconq.data.inventory import read_tracks
    from divconq.evaluate.inference import set_threads

    params = _embedding_params(args)
    rows = batch_rows(read_tracks(args.tracks), args.batch, args.tracks_per_job)
    set_threads(args.threads)
    listing, failed = run_embedding_batch(rows, args.results, params)
    return _finish_batch(args, rows, listing, failed, FILE_LISTING_COLUMNS)


def _cmd_musicnn_mel_batch(args) -> int:
    from divconq.data.batch import FILE_LISTING_COLUMNS, batch_rows, run_mel_batch
    from divconq.data.inventory import read_tracks

    rows = batch_rows(read_tracks(args.tracks), args.batch, args.tracks_per_job)
    listing, failed = run_mel_batch(rows, args.results)
    return _finish_batch(args, rows, listing, failed, FILE_LISTING_COLUMNS)


def _cmd_synth(args) -> int:
    from divconq.data.synth import write_track

    if len(args.dst) != len(args.index):
        raise SystemExit(f"synth: {len(args.dst)} outputs but {len(args.index)} --index values")
    # Several tracks per process: starting Python and importing numpy costs more
    # than rendering a 30-s track (~0.2 vs ~0.12 s).
    for dst, index in zip(args.dst, args.index, strict=True):
        write_track(
            dst,
            args.label,
            index,
            n_genres=args.n_genres,
            duration_s=args.duration,
            sample_rate=args.sample_rate,
            difficulty=args.difficulty,
            seed=args.seed,
        )
    return 0


def _cmd_predict(args) -> int:
    import os

    # One BLAS thread: the features' small matrix products gain nothing from more,
    # and threads spinning against TensorFlow's cost up to 5x on a busy machine.
    # (Only effective before numpy is imported, as it is here.)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from divconq.cli.predict import run

    return run(args)


def _track_rule(name: str) -> str:
    """``--rule``: a name of :data:`divconq.evaluate.rules.RULES`, else an error with a hint."""
    from divconq.evaluate import rules

    try:
        return rules.get(name, clip=False).name
    except rules.UnknownRuleError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _mp3_args(p) -> None:
    p.add_argument("--bitrate", default="192k")
    p.add_argument("--quality", type=int, default=7, help="LAME quality 0 (best) to 9 (fastest)")


def _batch_args(p) -> None:
    p.add_argument("tracks", help="the inventory's tracks.csv")
    p.add_argument("out", help="the batch's listing (.csv), written when every track is done")
    p.add_argument("--batch", required=True, help="batch name, 00000 for the first")
    p.add_argument("--tracks-per-job", type=int, required=True)
    p.add_argument("--results", required=True, help="the workflow's results folder")


def _embedding_args(p) -> None:
    p.add_argument(
        "--params", help="EmbeddingParams as JSON (model, hop_s, train_hop_s; default msd_musicnn)"
    )
    p.add_argument("--threads", type=int, default=2, help="TensorFlow threads")


def _features_from_arg(p, help: str) -> None:
    # The choices of divconq.data.batch.FEATURES_FROM, spelled here: the per-track
    # commands build this parser and must not import numpy for it.
    p.add_argument("--features-from", choices=["mp3", "source"], default="mp3", help=help)


def _feature_args(p) -> None:
    p.add_argument("--params", help="FeatureParams as JSON (defaults: the article's)")
    p.add_argument(
        "--no-clip", action="store_true", help="skip the whole-clip spectrogram (clip_mel_db)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``divconq`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="divconq", description="Divide & conquer audio classification."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("mp3", help="convert one audio file to MP3 (copies MP3 input)")
    p.add_argument("src")
    p.add_argument("dst")
    _mp3_args(p)
    p.set_defaults(func=_cmd_mp3)

    p = sub.add_parser("features", help="write the snippet/window HDF5 of one track")
    p.add_argument("src", help="audio file (the track's MP3 in the workflow)")
    p.add_argument("dst", help="output .h5")
    p.add_argument("--track", required=True, help="track id label/stem")
    p.add_argument("--source", help="original audio path, stored as provenance")
    _feature_args(p)
    p.add_argument("--mp3-bitrate", help="record: the MP3 was made at this bitrate")
    p.add_argument("--mp3-quality", type=int, default=7, help="record: and this LAME quality")
    _features_from_arg(p, "record: src is the track's MP3 (default) or its source audio")
    p.set_defaults(func=_cmd_features)

    p = sub.add_parser(
        "data-batch",
        help="make the MP3 (if any) and the HDF5 of a batch of the inventory's tracks",
    )
    _batch_args(p)
    _feature_args(p)
    _mp3_args(p)
    _features_from_arg(
        p, "features of each track's MP3, made first (default), or of its source (no MP3)"
    )
    p.set_defaults(func=_cmd_data_batch)

    p = sub.add_parser(
        "embed", help="write the pretrained embeddings of one track's 3-s patches (HDF5)"
    )
    p.add_argument("src", help="audio file (the track's source audio in the workflow)")
    p.add_argument("dst", help="output .h5")
    p.add_argument("--track", required=True, help="track id label/stem")
    _embedding_args(p)
    p.set_defaults(func=_cmd_embed)

    p = sub.add_parser(
        "embed-batch", help="write the pretrained embeddings of a batch of the inventory's tracks"
    )
    _batch_args(p)
    _embedding_args(p)
    p.set_defaults(func=_cmd_embed_batch)

    p = sub.add_parser(
        "musicnn-mel",
        help="write the musicnn front end's log-mel of one track (HDF5), for fine-tuning",
    )
    p.add_argument("src", help="audio file (the track's source audio in the workflow)")
    p.add_argument("dst", help="output .h5")
    p.add_argument("--track", required=True, help="track id label/stem")
    p.set_defaults(func=_cmd_musicnn_mel)

    p = sub.add_parser(
        "musicnn-mel-batch",
        help="write the musicnn front end's log-mel of a batch of the inventory's tracks",
    )
    _batch_args(p)
    p.set_defaults(func=_cmd_musicnn_mel_batch)

    p = sub.add_parser("synth", help="write synthetic tracks of one genre")
    p.add_argument("dst", nargs="+", help="output WAVs, one per --index value")
    p.add_argument("--label", required=True)
    p.add_argument("--index", type=int, nargs="+", required=True)
    p.add_argument("--n-genres", type=int, default=10)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--sample-rate", type=int, default=22050)
    p.add_argument("--difficulty", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("predict", help="classify audio files with a trained model")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (recursive)")
    p.add_argument(
        "--model",
        help="a model folder (results/models/<experiment>/seed<N>) or an experiment "
        "folder, whose seed models are averaged (default: results/models/best, the "
        "model a run with selection chose)",
    )
    from divconq.evaluate import rules

    p.add_argument(
        "--rule",
        type=_track_rule,
        default=rules.DEFAULT,
        metavar="{" + ",".join(rules.names()) + "}",
        help=f"how window scores make a track prediction (default: {rules.DEFAULT}, the article's)",
    )
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--windows", action="store_true", help="also print per-window scores")
    p.add_argument("--plot", metavar="PNG", help="draw per-window class probabilities over time")
    p.add_argument("--top", type=int, default=3, help="scores shown per file in the table")
    p.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="windows per model call (CPU time is flat from 16 to 256; memory is not)",
    )
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_predict)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from divconq.shared.errors import AudioError, PretrainedWeightsMissing

    try:
        return args.func(args)
    except AudioError as err:
        print(f"divconq {args.command}: {err}", file=sys.stderr)
        return 2
    except PretrainedWeightsMissing as err:
        print(f"divconq {args.command}: {err}", file=sys.stderr)
        return 3


#: Commands the workflow runs once per track, in a process of their own.
PER_TRACK_COMMANDS = ("mp3", "features", "synth")
