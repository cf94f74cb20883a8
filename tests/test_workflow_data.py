"""End-to-end Snakemake run of the data stage on a tiny synthetic config."""

import subprocess
import sys
import time
from pathlib import Path

import h5py
import pandas as pd
import pytest
from conftest import REPO

from divconq.shared.fileio import read_attrs

pytestmark = pytest.mark.slow

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run(results, *args, check=True, config=()):
    cmd = [
        *SNAKEMAKE,
        *args,
        "--cores",
        "2",
        "--configfile",
        str(REPO / "tests" / "configs" / "tiny.yaml"),
        "--config",
        f"results={results}",
        *config,
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    results = tmp_path_factory.mktemp("wf") / "results"
    run(results, "data")
    return results


def test_data_stage_builds_every_artifact(built):
    manifest = pd.read_csv(built / "split" / "manifest.csv")
    assert len(manifest) == 15
    assert set(manifest["split"]) == {"train", "val", "test"}
    assert manifest.groupby("track")["split"].nunique().max() == 1
    for row in manifest.itertuples():
        assert (built / "mp3" / f"{row.track}.mp3").exists()
        with h5py.File(row.spectrogram, "r") as h5:
            assert h5["mel_db"].shape == (row.n_windows, 100, 130)
            assert h5["is_snippet"][()].sum() == row.n_snippets
    # 8-s tracks: windows at 0..5 s, training snippets at 0, 2, 4 s
    assert set(manifest["n_windows"]) == {6}
    assert set(manifest["n_snippets"]) == {3}
    for rule in ("inventory", "mp3", "spectrogram", "split"):
        assert list((built / "logs").rglob("*")), rule


def test_rerun_is_a_no_op(built):
    proc = run(built, "-n", "data")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_deleting_one_hdf5_rebuilds_only_that_one(built):
    manifest = pd.read_csv(built / "split" / "manifest.csv")
    victim = Path(manifest["spectrogram"].iloc[0])
    others = [Path(p) for p in manifest["spectrogram"].iloc[1:]]
    before = {p: p.stat().st_mtime_ns for p in others}
    victim.unlink()
    time.sleep(0.05)
    run(built, "data")
    assert victim.exists()
    assert {p: p.stat().st_mtime_ns for p in others} == before


def test_single_artifact_target(tmp_path):
    results = tmp_path / "results"
    target = results / "spectrograms" / "blues" / "blues.00002.h5"
    run(results, str(target))
    assert target.exists()
    assert not (results / "spectrograms" / "blues" / "blues.00001.h5").exists()


def test_features_from_source_makes_no_mp3(tmp_path):
    results = tmp_path / "results"
    config = ["data={features_from: source}"]
    target = results / "spectrograms" / "blues" / "blues.00002.h5"
    run(results, str(target), config=config)
    with h5py.File(target, "r") as h5:
        attrs = read_attrs(h5.attrs)
    assert attrs["features_from"] == "source"
    assert attrs["source_path"].endswith("blues/blues.00002.wav")
    made = target.stat().st_mtime_ns
    run(results, "data", config=config)
    assert not (results / "mp3").exists()
    assert len(pd.read_csv(results / "split" / "manifest.csv")) == 15
    assert target.stat().st_mtime_ns == made  # current: the batch left it alone
    proc = run(results, "-n", "data", config=config)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_folder_source_with_broken_and_odd_files(tmp_path, tone):
    data = tmp_path / "my music"
    for label in ("rock", "jazz"):
        for i in range(4):
            tone(f"my music/{label}/{label} {i}.wav", duration_s=3.5, sr=44100, channels=2)
    tone("my music/rock/it's $(x);.flac", duration_s=1.0, fmt="FLAC")
    (data / "jazz" / "jazz.00054.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE" + b"\x00" * 64)
    results = tmp_path / "results"
    cmd = [
        *SNAKEMAKE,
        "--cores",
        "2",
        str(results / "split" / "manifest.csv"),
        "--config",
        f"results={results}",
        "dataset={source: folder, path: '" + str(data) + "'}",
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    manifest = pd.read_csv(results / "split" / "manifest.csv")
    assert len(manifest) == 9
    assert "rock/it's $(x);" in set(manifest["track"])
    rejected = pd.read_csv(results / "inventory" / "rejected.csv")
    assert rejected["path"].str.endswith("jazz.00054.wav").tolist() == [True]
    assert "jazz.00054.wav" in (results / "logs" / "inventory.log").read_text()


def test_missing_dataset_folder_is_a_clear_error(tmp_path):
    cmd = [
        *SNAKEMAKE,
        "-n",
        "--cores",
        "1",
        "--config",
        f"results={tmp_path}",
        f"dataset={{source: folder, path: {tmp_path}/nope}}",
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode != 0
    assert f"{tmp_path}/nope does not exist" in proc.stdout + proc.stderr
