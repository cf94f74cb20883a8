"""A dataset folder changed between runs, as a collection is updated: each change
rebuilds exactly the affected track's cached files (content fingerprints, not mtimes,
decide; divconq.data.fingerprint), everything after the data stage follows, and the
final table equals a clean run's on the changed folder.

Run on a user's folder of real audio files through the whole workflow (the plain
``snakemake`` command), once with the default ``small`` CRNN on spectrograms (MP3 and
HDF5 files per track) and once with a head on pretrained embeddings (embedding files).
"""

from __future__ import annotations

import hashlib
import os
import shutil

import pandas as pd
import pytest
from conftest import run_snakemake, write_tone

pytestmark = pytest.mark.slow

LABELS = {"low": 220.0, "mid": 660.0, "high": 1760.0}


def _folder(root):
    for label, freq in LABELS.items():
        for i in range(5):
            write_tone(root / label / f"{label}{i}.wav", duration_s=4.0, freq=freq * (1 + 0.04 * i))
    return root


def _config(tmp_path, data, experiments=""):
    path = tmp_path / "folder.yaml"
    path.write_text(
        f"dataset: {{source: folder, path: {data}}}\n"
        "split: {method: stratified, seed: 0}\n"
        "training: {seeds: [0], epochs: 1, patience: 1, threads: 1, mem_mb: 2000}\n"
        "embedding: {tracks_per_job: 20}\n" + experiments
    )
    return [path]


def _files(results, folders):
    """Relative path -> sha256 of every per-track file under ``folders``."""
    out = {}
    for folder in folders:
        for p in sorted((results / folder).rglob("*")):
            if p.is_file():
                out[str(p.relative_to(results))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _changed(before, after):
    """Files added or rewritten with other bytes; files gone."""
    changed = {p for p, h in after.items() if before.get(p) != h}
    return changed, set(before) - set(after)


def _replace(path, freq, keep_mtime):
    st = path.stat()
    write_tone(path, duration_s=4.0, freq=freq)
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns or not keep_mtime


def _outcome(results):
    """The accuracy table, every evaluated track's summed scores and the manifest (paths
    under ``results`` made relative)."""
    evals = sorted((results / "eval").rglob("tracks.csv"))
    manifest = pd.read_csv(results / "split" / "manifest.csv")
    manifest["spectrogram"] = manifest["spectrogram"].str.replace(str(results), "")
    return (
        pd.read_csv(results / "tables" / "accuracy.csv"),
        [pd.read_csv(p) for p in evals],
        manifest,
    )


def _replaced_newer(data):
    _replace(data / "low" / "low0.wav", 3000.0, keep_mtime=False)


def _replaced_same_mtime(data):
    # as cp -p or rsync -t leave it
    _replace(data / "mid" / "mid2.wav", 5000.0, keep_mtime=True)


def _touched(data):
    os.utime(data / "high" / "high1.wav")


def _added(data):
    write_tone(data / "low" / "low5.wav", duration_s=4.0, freq=250.0)


def _removed(data):
    (data / "mid" / "mid4.wav").unlink()


def _renamed(data):
    # the same content under a new track id
    (data / "high" / "high3.wav").rename(data / "high" / "high9.wav")


#: Each change to the folder and the tracks whose files it must rebuild.
CHANGES = {
    "replaced, newer mtime": (_replaced_newer, ["low/low0"]),
    "replaced, old mtime kept": (_replaced_same_mtime, ["mid/mid2"]),
    "touched": (_touched, []),
    "added": (_added, ["low/low5"]),
    "removed": (_removed, []),
    "renamed": (_renamed, ["high/high9"]),
}


def _check_changes(tmp_path, configs, folders, per_track, steps):
    """Run, change the folder step by step (each step a list of :data:`CHANGES`, then
    a run), check the files each step rebuilt, and compare with a clean run."""
    data = tmp_path / "data"
    results = tmp_path / "results"
    run_snakemake(results, configfiles=configs)
    for names in steps:
        before = _files(results, folders)
        for name in names:
            CHANGES[name][0](data)
        run_snakemake(results, configfiles=configs)
        changed, gone = _changed(before, _files(results, folders))
        want = {f for name in names for t in CHANGES[name][1] for f in per_track(t)}
        assert (changed, gone) == (want, set()), names
        manifest = pd.read_csv(results / "split" / "manifest.csv")
        tracks = set(pd.read_csv(results / "inventory" / "tracks.csv")["track"])
        assert set(manifest["track"]) == tracks, names

    clean = tmp_path / "clean"
    run_snakemake(clean, configfiles=configs)
    table, scores, manifest = _outcome(results)
    clean_table, clean_scores, clean_manifest = _outcome(clean)
    pd.testing.assert_frame_equal(table, clean_table)
    pd.testing.assert_frame_equal(manifest, clean_manifest)
    assert len(scores) == len(clean_scores) > 0
    for a, b in zip(scores, clean_scores, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_a_changed_folder_rebuilds_exactly_the_changed_tracks(tmp_path):
    """MP3 and HDF5 per track (the default experiment)."""
    configs = _config(tmp_path, _folder(tmp_path / "data"))

    def per_track(track):
        return {f"mp3/{track}.mp3", f"spectrograms/{track}.h5"}

    # The scenario alone first, then the other changes in two more runs.
    names = list(CHANGES)
    steps = [names[:1], names[1:3], names[3:]]
    _check_changes(tmp_path, configs, ["mp3", "spectrograms"], per_track, steps)


@pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("musicnn") is None,
    reason="musicnn wheel not installed: pip install --no-deps musicnn==0.1.0",
)
def test_a_changed_folder_rebuilds_exactly_the_changed_embeddings(tmp_path):
    """The embedding files of a head on pretrained embeddings (and the track's MP3 and
    HDF5, which the data stage makes for every track)."""
    experiments = (
        "experiments:\n"
        "  snippets_3s: {enabled: false}\n"
        "  emb_mean: {input: embedding_mean, model: emb_linear_mean,\n"
        "             training: {epochs: 2, batch_size: 4}}\n"
    )
    configs = _config(tmp_path, _folder(tmp_path / "data"), experiments)

    def per_track(track):
        return {
            f"mp3/{track}.mp3",
            f"spectrograms/{track}.h5",
            f"embeddings/msd_musicnn/{track}.h5",
        }

    # Every change of the other test, in two runs (an embedding job starts TensorFlow).
    steps = [list(CHANGES)[:3], list(CHANGES)[3:]]
    _check_changes(tmp_path, configs, ["mp3", "spectrograms", "embeddings"], per_track, steps)


def test_inventory_hashes_only_new_or_changed_files(tmp_path):
    """The fingerprint cache: a second inventory of the same folder hashes nothing, a
    replaced file (old mtime kept) is hashed again and gets its new fingerprint."""
    from divconq.data.fingerprint import file_sha256
    from divconq.data.inventory import discover, inventory

    data = _folder(tmp_path / "data")
    out = tmp_path / "inv"
    cache = out / "fingerprints.tsv"

    def run():
        candidates, rejected = discover(data)
        rows = inventory(candidates, out / "t.csv", out / "r.csv", rejected, cache_path=cache)
        return {r["track"]: r["sha256"] for r in rows}

    first = run()
    assert first["low/low1"] == file_sha256(data / "low" / "low1.wav")
    assert first["low/low1"] == hashlib.sha256((data / "low" / "low1.wav").read_bytes()).hexdigest()
    # A wrong cached fingerprint of an unchanged file is kept: proof that it was not re-hashed.
    text = cache.read_text().replace(first["low/low1"], "0" * 64)
    cache.write_text(text)
    assert run()["low/low1"] == "0" * 64
    _replace(data / "low" / "low1.wav", 3000.0, keep_mtime=True)
    again = run()
    assert again["low/low1"] == file_sha256(data / "low" / "low1.wav") != first["low/low1"]
    assert {t: h for t, h in again.items() if t != "low/low1"} == {
        t: h for t, h in first.items() if t != "low/low1"
    }
    shutil.rmtree(out)
    assert run() == again
