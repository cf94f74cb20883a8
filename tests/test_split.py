"""Tests of the track-wise split: leakage, stratification, determinism, split files, reports."""

import json
import logging

import pandas as pd
import pytest

from divconq import split as sp
from divconq.split import folds as fo


def make_tracks(per_label, ext=".au"):
    """A GTZAN-like track table: ``{label: n}`` -> rows ``label/label.0000k``."""
    rows = []
    for label, n in per_label.items():
        for k in range(n):
            stem = f"{label}.{k:05d}"
            rows.append(
                {
                    "track": f"{label}/{stem}",
                    "label": label,
                    "stem": stem,
                    "path": f"/data/genres/{label}/{stem}{ext}",
                    "duration_s": 30.0,
                }
            )
    return pd.DataFrame(rows)


FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def as_dict(df):
    return dict(zip(df["track"], df["split"], strict=True))


# --- allocation and the stratified split ------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 10, 19, 100])
def test_allocate_counts_sums_and_small_labels(n):
    counts = sp.allocate_counts(n, FRACTIONS)
    assert sum(counts.values()) == n
    assert counts["train"] >= 1
    if n >= 3:
        assert counts["val"] >= 1 and counts["test"] >= 1
    for s, f in FRACTIONS.items():
        # within rounding, except where the small-label rule moved a track
        assert abs(counts[s] - n * f) <= (1 if n >= 10 else 2)


def test_allocate_counts_exact():
    assert sp.allocate_counts(100, FRACTIONS) == {"train": 80, "val": 10, "test": 10}
    assert sp.allocate_counts(3, FRACTIONS) == {"train": 1, "val": 1, "test": 1}
    assert sp.allocate_counts(2, FRACTIONS) == {"train": 2, "val": 0, "test": 0}


def test_fractions_validated():
    with pytest.raises(sp.SplitError, match="sum to 1"):
        sp.check_fractions({"train": 0.8, "val": 0.1, "test": 0.2})
    with pytest.raises(sp.SplitError, match="unknown"):
        sp.check_fractions({"train": 0.8, "dev": 0.2})


def test_stratified_no_leakage_and_fractions():
    tracks = make_tracks({"blues": 20, "jazz": 30, "rock": 4})
    df = sp.stratified_split(tracks, FRACTIONS, seed=0)
    assert len(df) == len(tracks) and df["track"].is_unique  # each track in exactly one split
    assert set(df["split"]) == set(sp.SPLITS)
    for label, group in df.groupby("label"):
        expected = sp.allocate_counts(len(group), FRACTIONS)
        assert group["split"].value_counts().to_dict() == {
            s: n for s, n in expected.items() if n
        }, label
    assert "duration_s" in df.columns  # caller columns are kept


def test_stratified_deterministic_and_order_independent():
    tracks = make_tracks({"blues": 15, "jazz": 12})
    a = as_dict(sp.stratified_split(tracks, FRACTIONS, seed=3))
    shuffled = tracks.sample(frac=1.0, random_state=1).reset_index(drop=True)
    assert as_dict(sp.stratified_split(shuffled, FRACTIONS, seed=3)) == a
    assert as_dict(sp.stratified_split(tracks, FRACTIONS, seed=3)) == a
    assert as_dict(sp.stratified_split(tracks, FRACTIONS, seed=4)) != a


def test_stratified_label_independent_of_other_labels():
    # Adding a label must not reshuffle the others (per-label seeding).
    a = as_dict(sp.stratified_split(make_tracks({"blues": 15}), FRACTIONS, seed=0))
    b = as_dict(sp.stratified_split(make_tracks({"blues": 15, "jazz": 9}), FRACTIONS, seed=0))
    assert {t: s for t, s in b.items() if t.startswith("blues/")} == a


def test_duplicate_track_ids_rejected():
    tracks = make_tracks({"blues": 3})
    with pytest.raises(sp.SplitError, match="duplicate"):
        sp.stratified_split(pd.concat([tracks, tracks.iloc[:1]]), FRACTIONS)


# --- list files (fault-filtered format) -------------------------------------------------------


def fault_filtered(tmp_path, train, val, test):
    """Write three list files with ``.wav`` names (the published format) and return paths."""
    paths = []
    for name, ids in (("train", train), ("val", val), ("test", test)):
        lines = [f"  {t}.wav  " for t in ids]
        lines.insert(1, "")  # a blank line in the middle is ignored
        paths.append(write_lines(tmp_path / f"{name}_filtered.txt", lines))
    return paths


def test_lists_match_across_extensions(tmp_path):
    tracks = make_tracks({"blues": 5, "jazz": 5})  # .au on disk
    train = [f"blues/blues.0000{k}" for k in (0, 1, 2)] + [f"jazz/jazz.0000{k}" for k in (0, 1)]
    val = ["blues/blues.00003", "jazz/jazz.00002"]
    test = ["blues/blues.00004", "jazz/jazz.00003", "jazz/jazz.00004"]
    df, report = sp.split_from_lists(tracks, *fault_filtered(tmp_path, train, val, test))
    got = as_dict(df)
    assert got == {
        **dict.fromkeys(train, "train"),
        **dict.fromkeys(val, "val"),
        **dict.fromkeys(test, "test"),
    }
    assert report.clean and report.method == "lists"
    assert report.counts["jazz"] == {"train": 2, "val": 1, "test": 2}


def test_lists_unknown_names_reported_both_ways(tmp_path, caplog):
    tracks = make_tracks({"blues": 4, "jazz": 3})
    train = ["blues/blues.00000", "blues/blues.00001", "jazz/jazz.00000"]
    val = ["blues/blues.00099", "jazz/jazz.00001"]  # blues.00099 is not on disk
    test = ["blues/blues.00002", "country/country.00000"]  # neither is country
    paths = fault_filtered(tmp_path, train, val, test)
    with caplog.at_level(logging.WARNING, logger="divconq.split"):
        df, report = sp.split_from_lists(tracks, *paths)
    assert report.missing_on_disk == ["blues/blues.00099", "country/country.00000"]
    assert report.unassigned == ["blues/blues.00003", "jazz/jazz.00002"]
    # unassigned tracks are in no split, hence not in the manifest
    assert set(df["track"]).isdisjoint(report.unassigned)
    assert len(df) == 5
    assert "missing on disk" in caplog.text and "blues/blues.00003" in caplog.text

    text = sp.write_report(report, tmp_path / "split" / "report.txt").read_text()
    assert "missing on disk (2)" in text and "unassigned (2)" in text
    assert "  country/country.00000" in text and "  jazz/jazz.00002" in text

    with pytest.raises(sp.SplitError, match="strict"):
        sp.split_from_lists(tracks, *paths, strict=True)


def test_lists_track_in_two_lists_is_error(tmp_path):
    tracks = make_tracks({"blues": 3})
    paths = fault_filtered(
        tmp_path,
        ["blues/blues.00000", "blues/blues.00001"],
        ["blues/blues.00002"],
        ["blues/blues.00001"],
    )
    with pytest.raises(sp.SplitError, match=r"blues/blues\.00001 \(train and test\)"):
        sp.split_from_lists(tracks, *paths)


def test_label_without_train_track_is_error(tmp_path):
    tracks = make_tracks({"blues": 2, "jazz": 2})
    paths = fault_filtered(
        tmp_path,
        ["blues/blues.00000"],
        ["blues/blues.00001", "jazz/jazz.00000"],
        ["jazz/jazz.00001"],
    )
    with pytest.raises(sp.SplitError, match="without a training track.*jazz"):
        sp.split_from_lists(tracks, *paths)


def test_lists_line_without_label_is_error(tmp_path):
    tracks = make_tracks({"blues": 3})
    bad = write_lines(tmp_path / "train.txt", ["blues.00000.wav"])
    empty = write_lines(tmp_path / "empty.txt", [""])
    with pytest.raises(sp.SplitError, match="label/filename"):
        sp.split_from_lists(tracks, bad, empty, empty)


# --- SLAPP JSON -------------------------------------------------------------------------------


def test_json_split(tmp_path):
    tracks = make_tracks({"blues": 5, "jazz": 4, "rock": 3})
    spec = {
        # file names, stems, with and without the label prefix, and one unknown name
        "blues": {"val": ["blues.00000.wav"], "test": ["blues/blues.00001", "blues.00042"]},
        "jazz": {"val": ["jazz.00003"], "test": ["jazz/jazz.00002.au"]},
    }
    path = tmp_path / "split.json"
    path.write_text(json.dumps(spec))
    df, report = sp.split_from_json(tracks, path)
    got = as_dict(df)
    assert got["blues/blues.00000"] == "val" and got["blues/blues.00001"] == "test"
    assert got["jazz/jazz.00003"] == "val" and got["jazz/jazz.00002"] == "test"
    assert [t for t, s in got.items() if s == "train"] == [
        "blues/blues.00002",
        "blues/blues.00003",
        "blues/blues.00004",
        "jazz/jazz.00000",
        "jazz/jazz.00001",
    ]
    assert report.missing_on_disk == ["blues/blues.00042"]
    # rock is not in the file: reported, not silently put in train
    assert report.unassigned == ["rock/rock.00000", "rock/rock.00001", "rock/rock.00002"]
    assert not any(t.startswith("rock/") for t in got)


def test_json_wrong_label_prefix_is_error(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"blues": {"val": ["jazz/jazz.00000"], "test": []}}))
    with pytest.raises(sp.SplitError, match="under label 'blues'"):
        sp.split_from_json(make_tracks({"blues": 3, "jazz": 3}), path)


# --- groups -----------------------------------------------------------------------------------


def artist_groups(tmp_path, per_label, size, header=True):
    """Groups of ``size`` consecutive tracks per label; returns (tracks, path, group of id)."""
    tracks = make_tracks(per_label)
    group_of = {t: f"{t.split('/')[0]}_artist{int(t[-5:]) // size}" for t in tracks["track"]}
    lines = ["track,group"] if header else []
    # label/filename with extension for some, label/stem for others
    lines += [f"{t}.wav,{g}" if i % 2 else f"{t},{g}" for i, (t, g) in enumerate(group_of.items())]
    return tracks, write_lines(tmp_path / "groups.csv", lines), group_of


@pytest.mark.parametrize("header", [True, False])
def test_groups_no_group_straddles(tmp_path, header):
    tracks, path, group_of = artist_groups(tmp_path, {"blues": 40, "jazz": 30}, 3, header)
    df, report = sp.split_from_groups(tracks, path, FRACTIONS, seed=0)
    assert len(df) == len(tracks) and report.clean
    splits_per_group = df.groupby(df["track"].map(group_of))["split"].nunique()
    assert (splits_per_group == 1).all()
    for label, group in df.groupby("label"):
        target = sp.allocate_counts(len(group), FRACTIONS)
        got = group["split"].value_counts()
        for s in sp.SPLITS:
            assert abs(got.get(s, 0) - target[s]) < 3, (label, s)  # within one group size


def test_groups_cross_label_group_and_determinism(tmp_path):
    tracks, path, group_of = artist_groups(tmp_path, {"blues": 20, "jazz": 20}, 2)
    # one artist with tracks in both labels
    group_of.update({"blues/blues.00019": "shared", "jazz/jazz.00019": "shared"})
    write_lines(path, [f"{t},{g}" for t, g in group_of.items()])
    a, _ = sp.split_from_groups(tracks, path, FRACTIONS, seed=1)
    got = as_dict(a)
    assert got["blues/blues.00019"] == got["jazz/jazz.00019"]
    shuffled = tracks.sample(frac=1.0, random_state=0)
    assert as_dict(sp.split_from_groups(shuffled, path, FRACTIONS, seed=1)[0]) == got


def test_groups_ungrouped_and_missing_reported(tmp_path):
    tracks = make_tracks({"blues": 6})
    path = write_lines(
        tmp_path / "groups.csv",
        ["blues/blues.00000.wav,a", "blues/blues.00001.wav,a", "blues/blues.00077.wav,b"],
    )
    df, report = sp.split_from_groups(tracks, path, FRACTIONS, seed=0)
    assert len(df) == 6  # every track gets a split in groups mode
    assert report.missing_on_disk == ["blues/blues.00077"]
    assert report.ungrouped == [f"blues/blues.0000{k}" for k in range(2, 6)]
    assert "ungrouped (4)" in report.to_text()
    pair = df["track"].isin(["blues/blues.00000", "blues/blues.00001"])
    assert df.loc[pair, "split"].nunique() == 1


# --- dispatch, manifest -----------------------------------------------------------------------


def test_make_split_dispatch(tmp_path):
    tracks = make_tracks({"blues": 10})
    df, report = sp.make_split(tracks, {"method": "stratified", "fractions": FRACTIONS, "seed": 0})
    assert report.counts == {"blues": {"train": 8, "val": 1, "test": 1}}
    with pytest.raises(sp.SplitError, match="split.lists"):
        sp.make_split(tracks, {"method": "lists", "lists": {"train": None}})
    with pytest.raises(sp.SplitError, match="unknown split method"):
        sp.make_split(tracks, {"method": "random"})


def test_build_and_write_manifest(tmp_path):
    tracks = make_tracks({"blues": 10, "jazz": 10})
    split_df = sp.stratified_split(tracks, FRACTIONS, seed=0)
    counts = pd.DataFrame(
        {
            "track": tracks["track"],
            "spectrogram": "results/spectrograms/" + tracks["track"] + ".h5",
            "n_snippets": 14,
            "n_windows": 28,
        }
    )
    manifest = sp.build_manifest(split_df, counts)
    assert list(manifest.columns) == list(sp.MANIFEST_COLUMNS)
    assert manifest.equals(manifest.sort_values(["split", "track"]).reset_index(drop=True))
    assert (manifest["duration_s"] == 30.0).all()  # taken from the split table
    out = sp.write_manifest(manifest, tmp_path / "split" / "manifest.csv")
    back = pd.read_csv(out)
    assert list(back.columns) == list(sp.MANIFEST_COLUMNS) and len(back) == 20

    with pytest.raises(sp.SplitError, match="no counts"):
        sp.build_manifest(split_df, counts.iloc[1:])


# --- k-fold -----------------------------------------------------------------------------------


def kfold_manifest(tmp_path, tracks, folds, seed=0, groups=None):
    """Full k-fold manifest through make_split, build_manifest and write_manifest."""
    config = {"method": "kfold", "folds": folds, "seed": seed, "groups": groups}
    split_df, report = sp.make_split(tracks, config)
    counts = pd.DataFrame(
        {"track": tracks["track"], "spectrogram": "x.h5", "n_snippets": 14, "n_windows": 28}
    )
    path = sp.write_manifest(sp.build_manifest(split_df, counts), tmp_path / "manifest.csv")
    return path, report


@pytest.mark.parametrize("folds", [2, 3, 10])
def test_kfold_every_track_tested_once_and_stratified(folds):
    per_label = {"blues": 23, "jazz": 17, "rock": 10, "pop": 4}
    df, report = fo.kfold_split(make_tracks(per_label), folds, seed=3)
    assert df["track"].is_unique and len(df) == sum(per_label.values())
    assert set(df["fold"]) == set(range(folds)) and (df["split"] == fo.KFOLD_SPLIT).all()
    for label, n in per_label.items():
        sizes = df[df["label"] == label]["fold"].value_counts().reindex(range(folds), fill_value=0)
        assert sizes.max() - sizes.min() <= 1 and sizes.sum() == n, label
    totals = df["fold"].value_counts()
    assert totals.max() - totals.min() <= 1  # fold sizes balanced over labels too
    assert report.parts == [f"fold{k}" for k in range(folds)]
    assert sum(sum(c.values()) for c in report.counts.values()) == len(df)
    assert f"tracks per label ({' / '.join(report.parts)})" in report.to_text()


def test_kfold_deterministic_seeded_and_order_independent():
    tracks = make_tracks({"blues": 20, "jazz": 13})
    a = dict(zip(*fo.kfold_split(tracks, 5, seed=1)[0][["track", "fold"]].T.values, strict=True))
    shuffled = tracks.sample(frac=1, random_state=7)
    b = dict(zip(*fo.kfold_split(shuffled, 5, seed=1)[0][["track", "fold"]].T.values, strict=True))
    c = dict(zip(*fo.kfold_split(tracks, 5, seed=2)[0][["track", "fold"]].T.values, strict=True))
    assert a == b and a != c


def test_kfold_groups_never_straddle_folds(tmp_path):
    tracks, path, group_of = artist_groups(tmp_path, {"blues": 30, "jazz": 21}, 3)
    df, report = fo.kfold_split(tracks, 4, seed=0, groups=path)
    assert report.ungrouped == [] and report.missing_on_disk == []
    df["artist"] = df["track"].map(group_of)
    assert (df["group"] == df["artist"]).all()
    assert (df.groupby("artist")["fold"].nunique() == 1).all()
    for k in range(4):  # roughly stratified still: 30/4 and 21/4 tracks, artists of 3
        per_label = df[df["fold"] == k]["label"].value_counts()
        assert abs(per_label["blues"] - 7.5) <= 3 and abs(per_label["jazz"] - 5.25) <= 3


def test_kfold_errors():
    with pytest.raises(sp.SplitError, match="at least 2"):
        fo.kfold_split(make_tracks({"blues": 10}), 1)
    with pytest.raises(sp.SplitError, match="nothing to train"):
        fo.kfold_split(make_tracks({"blues": 10, "jazz": 1}), 2)


def test_fold_view_is_an_ordinary_manifest(tmp_path):
    tracks = make_tracks({"blues": 20, "jazz": 20, "rock": 9})
    path, _ = kfold_manifest(tmp_path, tracks, 5, seed=0)
    full = sp.read_manifest(path)
    assert list(full.columns) == [*sp.MANIFEST_COLUMNS, "fold", "group"]
    tested = []
    for k in range(5):
        view = fo.fold_view(path, k, val_fraction=0.2, seed=0)
        assert list(view.columns) == list(sp.MANIFEST_COLUMNS) and len(view) == len(full)
        assert view.equals(view.sort_values(["split", "track"]).reset_index(drop=True))
        test = set(view.loc[view["split"] == "test", "track"])
        assert test == set(full.loc[full["fold"] == k, "track"])
        for label, g in view[view["split"] != "test"].groupby("label"):
            assert (g["split"] == "val").sum() == sp.allocate_counts(len(g), {
                "train": 0.8, "val": 0.2, "test": 0.0})["val"], label  # fmt: skip
        tested += sorted(test)
        # same view for the same fold and seed; another seed moves the validation tracks only
        again = fo.fold_view(path, k, val_fraction=0.2, seed=0)
        assert again.equals(view)
        other = fo.fold_view(path, k, val_fraction=0.2, seed=1)
        assert set(other.loc[other["split"] == "test", "track"]) == test
    assert sorted(tested) == sorted(full["track"])  # every track tested exactly once
    views = [fo.fold_view(path, 0, 0.2, seed=s) for s in (0, 1)]
    assert set(views[0].query("split == 'val'")["track"]) != set(
        views[1].query("split == 'val'")["track"]
    )


def test_fold_view_keeps_groups_whole_in_validation(tmp_path):
    tracks, groups, group_of = artist_groups(tmp_path, {"blues": 30, "jazz": 30}, 3)
    path, report = kfold_manifest(tmp_path, tracks, 3, seed=0, groups=groups)
    assert "method: kfold" in report.to_text()
    for k in range(3):
        view = fo.fold_view(path, k, val_fraction=0.25, seed=0)
        view["artist"] = view["track"].map(group_of)
        assert (view.groupby("artist")["split"].nunique() == 1).all()
        assert (view["split"] == "val").sum() >= 3


def test_fold_view_errors(tmp_path):
    tracks = make_tracks({"blues": 10, "jazz": 10})
    path, _ = kfold_manifest(tmp_path, tracks, 2)
    with pytest.raises(sp.SplitError, match="fold 2 is not among"):
        fo.fold_view(path, 2)
    with pytest.raises(sp.SplitError, match="val_fraction"):
        fo.fold_view(path, 0, val_fraction=1.0)
    ordinary = sp.stratified_split(tracks, FRACTIONS)
    with pytest.raises(sp.SplitError, match="not a k-fold manifest"):
        fo.fold_view(ordinary, 0)
