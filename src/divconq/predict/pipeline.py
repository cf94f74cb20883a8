"""The streaming window pipeline of ``divconq predict``.

Audio that arrives piece by piece (a file decoded by :func:`divconq.data.audio.stream`)
is cut into chunks of windows (:class:`WindowCutter`) as soon as their samples are
in; worker threads compute each chunk's log-mel features
(:func:`segment_features`, which is :func:`divconq.data.features.track_features` of
the chunk's audio) and the caller's scoring function scores them in batches
(:func:`scores_of_stream`). Each window is framed and transformed on its own, so
any split into chunks gives the very numbers of the whole track, and memory stays
bounded: only the (n_windows, n_classes) scores are kept.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from divconq.data.features import FeatureParams, track_features, window_starts

__all__ = ["FEATURE_CHUNK", "WindowCutter", "scores_of_stream", "segment_features", "window_chunks"]

#: Windows whose features are computed at once (~17 MB of framed audio at 22050 Hz).
FEATURE_CHUNK = 64


class WindowCutter:
    """Cut audio that arrives piece by piece into chunks of windows.

    A chunk is handed out as soon as all of its samples are in, so the features
    of the start of a long file can be computed while the rest is still being
    decoded; only the samples of the chunks not yet handed out are kept.

    Parameters
    ----------
    params : FeatureParams
    chunk : int
        Windows per chunk (the last chunk may have fewer).

    Attributes
    ----------
    n_samples : int
        Samples received so far (the track length once :meth:`finish` was called).
    """

    def __init__(self, params: FeatureParams, chunk: int = FEATURE_CHUNK):
        self.params, self.chunk = params, int(chunk)
        self.n_samples = 0
        self._pieces: deque = deque()  # arrays that hold samples from self._offset on
        self._offset = 0
        self._next = 0  # first window not handed out

    def _span(self, first: int, count: int) -> tuple[int, int]:
        hop, length = self.params.window_hop_samples, self.params.snippet_samples
        a = first * hop
        return a, a + (count - 1) * hop + length

    def _take(self, a: int, b: int) -> np.ndarray:
        """Samples ``a`` to ``b - 1`` (fewer at the end of the track)."""
        parts, pos = [], self._offset
        for piece in self._pieces:
            lo, hi = max(a, pos), min(b, pos + len(piece))
            if lo < hi:
                parts.append(piece[lo - pos : hi - pos])
            pos += len(piece)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def _drop_before(self, a: int) -> None:
        while self._pieces and self._offset + len(self._pieces[0]) <= a:
            self._offset += len(self._pieces.popleft())

    def feed(self, piece: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
        """Add the next samples; return the chunks now complete.

        Returns
        -------
        list of (first, count, segment)
            ``segment`` holds the samples of windows ``first`` to
            ``first + count - 1``, from the start of window ``first`` on.
        """
        piece = np.asarray(piece, dtype=np.float32)
        if len(piece):
            self._pieces.append(piece)
            self.n_samples += len(piece)
        ready = []
        while True:
            a, b = self._span(self._next, self.chunk)
            if b > self.n_samples:
                return ready
            ready.append((self._next, self.chunk, self._take(a, b)))
            self._next += self.chunk
            self._drop_before(self._span(self._next, 1)[0])

    def finish(self) -> list[tuple[int, int, np.ndarray]]:
        """The track is complete: return the remaining windows (as :meth:`feed`).

        A track shorter than one window gives one window at 0, whose segment is
        shorter than a window (the features pad it with silence).
        """
        n = len(window_starts(self.n_samples, self.params))
        ready = []
        while self._next < n:
            count = min(self.chunk, n - self._next)
            a, b = self._span(self._next, count)
            ready.append((self._next, count, self._take(a, min(b, self.n_samples))))
            self._next += count
        self._pieces.clear()
        return ready


def segment_features(params: FeatureParams, first: int, count: int, segment: np.ndarray):
    """Features of windows ``first`` to ``first + count - 1`` of a track.

    :func:`divconq.data.features.track_features` of the stretch of audio these windows
    cover (a chunk from :class:`WindowCutter`). Windows are framed and transformed
    one by one there, so any split of a track into chunks gives exactly
    ``track_features(y, params).mel_db``; a track shorter than one window gets one
    window padded with silence, as in training.

    Parameters
    ----------
    params : FeatureParams
    first, count : int
        The chunk's first window and its number of windows.
    segment : np.ndarray, float32
        The samples of those windows, from the start of window ``first`` on.

    Returns
    -------
    start_s : np.ndarray, float64, shape (count,)
        Window starts in the track, seconds.
    mel_db : np.ndarray, float32, shape (count, n_mels, n_frames)
    """
    feats = track_features(segment, params, clip=False)
    if len(feats.start_s) != count:  # pragma: no cover - window arithmetic guard
        raise RuntimeError(f"chunk at {first} gave {len(feats.start_s)} windows, not {count}")
    offset_s = first * params.window_hop_samples / params.sample_rate
    return feats.start_s + offset_s, feats.mel_db


def window_chunks(y: np.ndarray, params: FeatureParams, chunk: int = FEATURE_CHUNK):
    """Features of every window of a track, ``chunk`` windows at a time.

    Yields
    ------
    (start_s, mel_db) of consecutive chunks, see :func:`segment_features`; their
    concatenation equals ``track_features(y, params)``'s ``start_s`` and ``mel_db``.
    """
    cutter = WindowCutter(params, chunk)
    for job in cutter.feed(y) + cutter.finish():
        yield segment_features(params, *job)


def _read_chunks(pieces, cutter: WindowCutter, pool, put, stop: threading.Event) -> None:
    """Reader thread: pull the pieces, submit each complete chunk's features, then ``None``.

    An exception is handed on through ``put`` (the scoring thread raises it).
    """
    try:
        for piece in pieces:
            if stop.is_set():
                return
            for job in cutter.feed(piece):
                if not put(pool.submit(segment_features, cutter.params, *job)):
                    return
        for job in cutter.finish():
            if not put(pool.submit(segment_features, cutter.params, *job)):
                return
        put(None)
    except BaseException as err:  # handed to the scoring thread, which raises it
        put(err)


def scores_of_stream(
    pieces, params: FeatureParams, score, batch_size: int, workers: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Window starts and scores of mono audio at ``params.sample_rate``, given piece by piece.

    Three things overlap: a reader thread pulls the pieces (decoding a file,
    see :func:`divconq.data.audio.stream`) and cuts them into chunks of windows
    (:class:`WindowCutter`); ``workers`` threads compute the chunks' features;
    this thread scores them in batches (numpy, libsndfile, soxr and TensorFlow
    all release the GIL). A few chunks at most wait, so memory stays bounded
    whatever the length. Chunks are independent, so the numbers do not depend on
    the threads. If scoring fails, the reader stops and the error is raised.

    Parameters
    ----------
    pieces : iterable of np.ndarray, float32, shape (n,)
        Consecutive pieces of the track.
    params : FeatureParams
    score : callable
        ``score(mel_db)``: float32 (n, n_mels, n_frames) -> (n, n_classes) scores.
    batch_size : int
        Windows per ``score`` call (the last call may have fewer or, by one
        chunk, more).
    workers : int
        Feature threads.

    Returns
    -------
    start_s : np.ndarray, float64, shape (n_windows,)
    scores : np.ndarray, shape (n_windows, n_classes)
        As ``score`` returns them.
    n_samples : int
        Track length, samples.
    """
    cutter = WindowCutter(params)
    waiting = queue.Queue(maxsize=max(2 * workers, -(-batch_size // FEATURE_CHUNK) + 1))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    starts, scores, mels, pending = [], [], [], 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reader = threading.Thread(
            target=_read_chunks, args=(pieces, cutter, pool, put, stop), daemon=True
        )
        reader.start()
        try:
            while True:
                item = waiting.get()
                if isinstance(item, BaseException):
                    raise item
                if item is not None:
                    start_s, mel_db = item.result()
                    starts.append(start_s)
                    mels.append(mel_db)
                    pending += len(mel_db)
                if mels and (pending >= batch_size or item is None):
                    scores.append(score(np.concatenate(mels)))
                    mels, pending = [], 0
                if item is None:
                    break
        finally:
            stop.set()
            reader.join()
    return np.concatenate(starts), np.concatenate(scores), cutter.n_samples
