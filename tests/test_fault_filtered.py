"""The artist-filtered ("fault-filtered") GTZAN split of presets/gtzan_fault_filtered.yaml.

A GTZAN-shaped folder (1,000 tiny ``.au`` files named as GTZAN's) goes through the data
stage's code as the workflow runs it, in one process: the inventory (every file decoded),
the ``features`` command of each track, and the split rule's steps (``make_split`` with the
preset's split section, the manifest from the HDF5 counts, the report). Left out to keep
it fast (~15 s of CPU): the MP3 step (it changes no track id; 1,000 encodes take minutes)
and the 30-s clip input of the features.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from conftest import REPO, write_tone

from divconq import cli
from divconq.data.features import FeatureParams, summarize_hdf5
from divconq.data.inventory import discover, inventory
from divconq.split import (
    build_manifest,
    make_split,
    read_list,
    read_manifest,
    write_manifest,
    write_report,
)

PRESET = REPO / "presets" / "gtzan_fault_filtered.yaml"
GENRES = ("blues classical country disco hiphop jazz metal pop reggae rock").split()
LISTS = {"train": "train_filtered.txt", "val": "valid_filtered.txt", "test": "test_filtered.txt"}
SIZES = {"train": 443, "val": 197, "test": 290}


def listed() -> dict[str, set[str]]:
    """Track ids (``label/stem``) of each shipped list."""
    folder = REPO / "data" / "splits" / "gtzan_fault_filtered"
    return {
        split: {f"{label}/{name.rsplit('.', 1)[0]}" for label, name in read_list(folder / f)}
        for split, f in LISTS.items()
    }


@pytest.fixture(scope="module")
def gtzan(tmp_path_factory):
    """GTZAN's 1,000 file names as 0.3-s, 8-kHz ``.au`` tones (the lists say ``.wav``)."""
    root = tmp_path_factory.mktemp("gtzan") / "genres"
    for g, genre in enumerate(GENRES):
        for i in range(100):
            path = root / genre / f"{genre}.{i:05d}.au"
            write_tone(path, duration_s=0.3, sr=8000, freq=200.0 + 50 * g + i, fmt="AU")
    return root


def test_shipped_lists_are_the_published_split():
    lists = listed()
    assert {s: len(ids) for s, ids in lists.items()} == SIZES
    assert not (lists["train"] & lists["val"] or lists["train"] & lists["test"])
    assert not lists["val"] & lists["test"]
    # Every genre is in every split (no label is missing from training or testing).
    for ids in lists.values():
        assert {t.split("/")[0] for t in ids} == set(GENRES)


def test_preset_manifest_equals_the_lists(gtzan, tmp_path, monkeypatch):
    config = yaml.safe_load(PRESET.read_text(encoding="utf-8"))
    assert config["split"]["method"] == "lists"
    # The workflow runs from the repository root, and the preset's list paths are relative
    # to it.
    monkeypatch.chdir(REPO)
    candidates, rejected = discover(gtzan)
    inventory(candidates, tmp_path / "tracks.csv", tmp_path / "rejected.csv", rejected)
    tracks = pd.read_csv(tmp_path / "tracks.csv", dtype={"track": str, "label": str, "stem": str})
    assert len(tracks) == 1000

    params = json.dumps(FeatureParams().to_dict())
    for track, path in zip(tracks["track"], tracks["path"], strict=True):
        h5 = str(tmp_path / "spectrograms" / f"{track}.h5")
        args = ["features", path, h5, "--track", track, "--params", params, "--no-clip"]
        assert cli.main(args) == 0

    split, report = make_split(tracks, config["split"])
    counts = pd.DataFrame(
        [summarize_hdf5(p) | {"spectrogram": str(p)} for p in tmp_path.glob("spectrograms/*/*")]
    )
    write_manifest(build_manifest(split, counts), tmp_path / "split" / "manifest.csv")
    write_report(report, tmp_path / "split" / "report.txt")

    manifest = read_manifest(tmp_path / "split" / "manifest.csv")
    got = {s: set(manifest.loc[manifest["split"] == s, "track"]) for s in SIZES}
    lists = listed()
    assert got == lists
    assert len(manifest) == sum(SIZES.values())

    # The 70 tracks no list names: reported as unassigned, in no split.
    gtzan_ids = {f"{g}/{g}.{i:05d}" for g in GENRES for i in range(100)}
    left_out = gtzan_ids - set().union(*lists.values())
    assert len(left_out) == 70
    assert set(report.unassigned) == left_out
    assert not report.missing_on_disk
    text = (tmp_path / "split" / "report.txt").read_text(encoding="utf-8")
    assert "unassigned (70)" in text
    assert all(f"  {t}\n" in text for t in left_out)
    assert not left_out & set(manifest["track"])
