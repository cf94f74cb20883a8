"""The data stage in batches (divconq.data.batch): same files as the per-track rules,
current tracks skipped, a failed track leaves the others done and the batch unfinished."""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from conftest import write_tone

from divconq.data import batch
from divconq.data.features import FeatureParams
from divconq.data.fingerprint import file_sha256
from divconq.shared.fileio import read_attrs

PARAMS = FeatureParams(max_snippets=4)
MP3 = {"mp3_bitrate": "192k", "mp3_quality": 7}


def _rows(tmp_path, n=3):
    rows = []
    for i in range(n):
        label = f"l{i % 2}"
        path = write_tone(
            tmp_path / "audio" / label / f"t{i}.wav", duration_s=4.0, freq=300 + 50 * i
        )
        rows.append({"track": f"{label}/t{i}", "path": str(path)})
    return rows


def _run(rows, results, params=PARAMS, clip=False, quality=7, features_from="mp3"):
    return batch.run_batch(rows, results, params, clip, "192k", quality, features_from)


def _mtimes(results):
    files = sorted((results / "mp3").rglob("*.mp3")) + sorted(
        (results / "spectrograms").rglob("*.h5")
    )
    return {p: p.stat().st_mtime_ns for p in files}


def test_auto_tracks_per_job_keeps_jobs_few_and_spread():
    assert [batch.auto_tracks_per_job(n) for n in (0, 1, 15, 200, 1_000, 10_000, 40_000)] == [
        1, 1, 1, 6, 31, 64, 80,
    ]  # fmt: skip
    for n in (40_000, 100_000, 1_000_000):
        per_job = batch.auto_tracks_per_job(n)
        assert len(batch.batch_names(n, per_job)) <= batch.MAX_JOBS
        assert len(batch.batch_names(n, per_job)) >= batch.MAX_JOBS - 1


def test_batches_cover_every_track_once_in_order():
    rows = [{"track": f"t{i}"} for i in range(23)]
    names = batch.batch_names(len(rows), 5)
    assert names == ["00000", "00001", "00002", "00003", "00004"]
    assert [r for name in names for r in batch.batch_rows(rows, name, 5)] == rows


def test_batch_writes_what_the_per_track_commands_write(tmp_path):
    rows = _rows(tmp_path)
    results = tmp_path / "results"
    listing, failed = _run(rows, results)
    assert failed == [] and [r["made"] for r in listing] == [True] * 3
    row = rows[1]
    alone = tmp_path / "alone"
    cli = [sys.executable, "-m", "divconq.cli"]
    subprocess.run([*cli, "mp3", row["path"], str(alone / "t.mp3")], check=True)
    subprocess.run(
        [*cli, "features", str(alone / "t.mp3"), str(alone / "t.h5"), "--track", row["track"]]
        + ["--source", row["path"], "--params", '{"max_snippets": 4}', "--no-clip"]
        + ["--mp3-bitrate", "192k", "--mp3-quality", "7"],
        check=True,
    )
    assert (results / "mp3" / f"{row['track']}.mp3").read_bytes() == (alone / "t.mp3").read_bytes()
    with (
        h5py.File(results / "spectrograms" / f"{row['track']}.h5") as a,
        h5py.File(alone / "t.h5") as b,
    ):
        assert sorted(a) == sorted(b) == ["is_snippet", "mel_db", "start_s"]
        for name in a:
            np.testing.assert_array_equal(a[name][()], b[name][()])
        assert dict(a.attrs) == dict(b.attrs)
    assert listing[1]["spectrogram"] == f"{results}/spectrograms/{row['track']}.h5"


def test_current_tracks_are_skipped_and_changed_ones_made_again(tmp_path):
    rows = _rows(tmp_path)
    results = tmp_path / "results"
    _run(rows, results)
    before = _mtimes(results)
    listing, _ = _run(rows, results)
    assert [r["made"] for r in listing] == [False] * 3 and _mtimes(results) == before

    # A newer source with the same content: nothing (the fingerprint decides).
    os.utime(rows[0]["path"], ns=(before[max(before)] + 10**9,) * 2)
    assert [r["made"] for r in _run(rows, results)[0]] == [False] * 3
    # Other content, its old mtime kept (cp -p): that track only, recorded with its hash.
    old = os.stat(rows[1]["path"])
    write_tone(rows[1]["path"], duration_s=4.0, freq=2000.0)
    os.utime(rows[1]["path"], ns=(old.st_atime_ns, old.st_mtime_ns))
    assert [r["made"] for r in _run(rows, results)[0]] == [False, True, False]
    with h5py.File(results / "spectrograms" / f"{rows[1]['track']}.h5") as h5:
        assert read_attrs(h5.attrs)["source_sha256"] == file_sha256(rows[1]["path"])
    # The inventory's fingerprint is what a batch compares with: a row that names
    # other content is made again.
    rows[2] = {**rows[2], "sha256": "0" * 64}
    assert [r["made"] for r in _run(rows, results)[0]] == [False, False, True]
    rows[2].pop("sha256")
    # Other feature parameters, other MP3 settings, the clip spectrogram: every track.
    assert all(r["made"] for r in _run(rows, results, params=FeatureParams(max_snippets=3))[0])
    assert all(
        r["made"] for r in _run(rows, results, params=FeatureParams(max_snippets=3), quality=5)[0]
    )
    made = _run(rows, results, params=FeatureParams(max_snippets=3), quality=5, clip=True)[0]
    assert all(r["made"] for r in made)
    with h5py.File(results / "spectrograms" / "l0" / "t0.h5") as h5:
        assert "clip_mel_db" in h5 and h5.attrs["mp3_quality"] == 5


def test_features_from_source_make_no_mp3_and_equal_the_source_features(tmp_path):
    from divconq.data.audio import load
    from divconq.data.features import read_hdf5, track_features

    rows = _rows(tmp_path)
    results = tmp_path / "results"
    listing, failed = _run(rows, results, features_from="source")
    assert failed == [] and [r["mp3"] for r in listing] == [""] * 3
    assert not (results / "mp3").exists()
    row = rows[2]
    feats, _, attrs = read_hdf5(results / "spectrograms" / f"{row['track']}.h5")
    # The very features divconq predict computes from the file.
    want = track_features(load(row["path"]), PARAMS, track_id=row["track"], clip=False)
    np.testing.assert_array_equal(feats.mel_db, want.mel_db)
    assert attrs["features_from"] == "source" and "mp3_bitrate" not in attrs

    # The per-track command (rule spectrogram with features_from: source) writes the same.
    alone = tmp_path / "alone.h5"
    subprocess.run(
        [sys.executable, "-m", "divconq.cli", "features", row["path"], str(alone)]
        + ["--track", row["track"], "--source", row["path"], "--params", '{"max_snippets": 4}']
        + ["--no-clip", "--features-from", "source"],
        check=True,
    )
    with (
        h5py.File(results / "spectrograms" / f"{row['track']}.h5") as a,
        h5py.File(alone) as b,
    ):
        np.testing.assert_array_equal(a["mel_db"][()], b["mel_db"][()])
        assert dict(a.attrs) == dict(b.attrs)


def test_switching_features_from_makes_every_track_again(tmp_path):
    rows = _rows(tmp_path)
    results = tmp_path / "results"
    _run(rows, results, features_from="source")
    assert [r["made"] for r in _run(rows, results, features_from="source")[0]] == [False] * 3
    assert [r["made"] for r in _run(rows, results)[0]] == [True] * 3  # now of the MP3s
    with h5py.File(results / "spectrograms" / "l0" / "t0.h5") as h5:
        attrs = read_attrs(h5.attrs)
    assert "features_from" not in attrs and attrs["mp3_bitrate"] == "192k"
    assert [r["made"] for r in _run(rows, results)[0]] == [False] * 3
    assert [r["made"] for r in _run(rows, results, features_from="source")[0]] == [True] * 3
    # A source with other content remakes its track in this mode too.
    write_tone(rows[1]["path"], duration_s=4.0, freq=2000.0)
    made = _run(rows, results, features_from="source")[0]
    assert [r["made"] for r in made] == [False, True, False]
    with pytest.raises(ValueError, match="features_from"):
        batch.recorded_settings("wav")


def test_a_damaged_hdf5_is_made_again(tmp_path):
    rows = _rows(tmp_path, n=1)
    results = tmp_path / "results"
    _run(rows, results)
    h5 = results / "spectrograms" / "l0" / "t0.h5"
    h5.write_bytes(h5.read_bytes()[:100])
    assert [r["made"] for r in _run(rows, results)[0]] == [True]
    with h5py.File(h5) as f:
        assert f["mel_db"].shape[0] > 0


def test_a_bad_file_fails_the_batch_and_keeps_the_others(tmp_path):
    rows = _rows(tmp_path)
    bad = rows[1]["path"]
    with open(bad, "wb") as f:
        f.write(b"RIFF\x00\x00\x00\x00WAVE" + b"\x00" * 64)
    tracks_csv = tmp_path / "tracks.csv"
    tracks_csv.write_text("track,path\n" + "".join(f"{r['track']},{r['path']}\n" for r in rows))
    results, out = tmp_path / "results", tmp_path / "batches" / "00000.csv"
    cmd = [sys.executable, "-m", "divconq.cli", "data-batch", str(tracks_csv), str(out)]
    cmd += ["--batch", "00000", "--tracks-per-job", "3", "--results", str(results)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"divconq data-batch: {bad} (l1/t1):" in proc.stderr
    assert not out.exists()  # the batch is not done ...
    assert (results / "spectrograms" / "l0" / "t0.h5").exists()  # ... its other tracks are
    assert (results / "spectrograms" / "l0" / "t2.h5").exists()

    write_tone(bad, duration_s=4.0)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert [r["made"] for r in batch.read_listing(out)] == ["False", "True", "False"]


@pytest.mark.parametrize("given", [0, "some", 2.5])
def test_tracks_per_job_is_checked_by_the_schema(given):
    from jsonschema import ValidationError, validate
    from test_config import SCHEMA

    schema = SCHEMA["properties"]["data"]
    validate({"tracks_per_job": 5}, schema)
    validate({"tracks_per_job": "auto"}, schema)
    with pytest.raises(ValidationError):
        validate({"tracks_per_job": given}, schema)


def test_mel_batch_makes_the_network_log_mels_and_skips_current_ones(tmp_path):
    from divconq.data.audio import load
    from divconq.data.embeddings import network_log_mel

    rows = _rows(tmp_path)
    results = tmp_path / "results"
    listing, failed = batch.run_mel_batch(rows, results)
    assert failed == [] and [r["made"] for r in listing] == [True] * 3
    path = results / "musicnn_mels" / f"{rows[1]['track']}.h5"
    assert listing[1]["file"] == str(path)
    with h5py.File(path) as h5:
        stored, attrs = h5["log_mel"][()], read_attrs(h5.attrs)
    np.testing.assert_array_equal(stored, network_log_mel(load(rows[1]["path"], sr=16000))[0])
    assert attrs["frontend"] == "musicnn" and attrs["track"] == rows[1]["track"]
    assert [r["made"] for r in batch.run_mel_batch(rows, results)[0]] == [False] * 3
    os.utime(rows[2]["path"], ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    assert [r["made"] for r in batch.run_mel_batch(rows, results)[0]] == [False] * 3
    old = os.stat(rows[2]["path"])
    write_tone(rows[2]["path"], duration_s=4.0, freq=2000.0)
    os.utime(rows[2]["path"], ns=(old.st_atime_ns, old.st_mtime_ns))
    assert [r["made"] for r in batch.run_mel_batch(rows, results)[0]] == [False, False, True]


@pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("musicnn") is None,
    reason="musicnn wheel not installed: pip install --no-deps musicnn==0.1.0",
)
def test_embedding_batch_embeds_once_and_remakes_on_other_hops(tmp_path):
    """One network load for the batch; each file as the per-track command writes it
    (the same function); current files skipped, other hops remade, a bad file failed
    alone."""
    from divconq.data.audio import load
    from divconq.data.embeddings import EmbeddingParams, read_hdf5, track_embeddings

    rows = _rows(tmp_path)
    results = tmp_path / "results"
    params = EmbeddingParams()
    with open(rows[1]["path"], "wb") as f:
        f.write(b"RIFF\x00\x00\x00\x00WAVE" + b"\x00" * 64)
    listing, failed = batch.run_embedding_batch(rows, results, params)
    assert [r["track"] for r in listing] == [rows[0]["track"], rows[2]["track"]]
    assert [f[0] for f in failed] == [rows[1]["track"]]
    path = results / "embeddings" / "msd_musicnn" / f"{rows[2]['track']}.h5"
    values, start_s, _, attrs = read_hdf5(path, "pool")
    want = track_embeddings(load(rows[2]["path"], sr=16000), params)
    np.testing.assert_allclose(values, want.layers["pool"], atol=1e-5)
    assert attrs["source_path"] == rows[2]["path"] and attrs["hop_s"] == 1.0

    write_tone(rows[1]["path"], duration_s=4.0)
    listing, failed = batch.run_embedding_batch(rows, results, params)
    assert failed == [] and [r["made"] for r in listing] == [False, True, False]
    other = EmbeddingParams(hop_s=0.5, train_hop_s=3.0)
    assert all(r["made"] for r in batch.run_embedding_batch(rows, results, other)[0])
    assert read_hdf5(path, "pool")[3]["hop_s"] == 0.5
