"""Discovery and probing of real (and broken) audio files."""

import shutil

import numpy as np
import pytest
import soundfile as sf

from divconq.data.audio import AudioError, load, probe
from divconq.data.inventory import DatasetError, discover, inventory, read_tracks
from divconq.data.mp3 import to_mp3


def make_dataset(root, tone):
    """A small dataset with every kind of file the issue names."""
    tone("rock/good.wav", duration_s=2.0)
    tone("rock/stereo44.wav", duration_s=2.0, sr=44100, channels=2)
    tone("rock/eight_k.wav", duration_s=2.0, sr=8000)
    tone("rock/one_second.wav", duration_s=1.0)
    tone("rock/it's $(x);.wav", duration_s=1.5)
    tone("jazz/ünïcode name.flac", duration_s=2.0, fmt="FLAC", subtype="PCM_16")
    tone("jazz/old.au", duration_s=2.0, fmt="AU", subtype="PCM_16")
    tone("jazz/vorbis.ogg", duration_s=2.0, fmt="OGG", subtype="VORBIS")
    tone("jazz/opus.opus", duration_s=2.0, sr=48000, fmt="OGG", subtype="OPUS")
    (root / "jazz" / "jazz.00054.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40)
    (root / "jazz" / "empty.wav").write_bytes(b"")
    (root / "jazz" / "notes.mp3").write_text("this is not audio")
    (root / "jazz" / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    (root / "jazz" / ".DS_Store").write_bytes(b"x")
    (root / "README.txt").write_text("hello")


def test_discover_is_sorted_and_reports_non_audio(tmp_path, tone):
    make_dataset(tmp_path, tone)
    candidates, rejected = discover(tmp_path)
    tracks = [c.track for c in candidates]
    assert tracks == sorted(tracks)
    assert "rock/it's $(x);" in tracks
    reasons = dict(rejected)
    assert "unsupported extension" in reasons[str(tmp_path / "jazz" / "cover.jpg")]
    assert "label folder" in reasons[str(tmp_path / "README.txt")]
    assert not any(".DS_Store" in p for p, _ in rejected)


def test_inventory_rejects_broken_files_and_keeps_the_rest(tmp_path, tone, caplog):
    caplog.set_level("INFO", logger="divconq.data.inventory")
    root = tmp_path / "data"
    root.mkdir()
    make_dataset(root, lambda name, **kw: tone(f"data/{name}", **kw))
    candidates, pre = discover(root)
    out = tmp_path / "inv"
    tracks = inventory(candidates, out / "tracks.csv", out / "rejected.csv", pre_rejected=pre)
    by_id = {t["track"]: t for t in read_tracks(out / "tracks.csv")}
    assert len(by_id) == len(tracks) == 9
    assert by_id["rock/stereo44"]["channels"] == "2"
    assert by_id["rock/stereo44"]["sample_rate"] == "44100"
    assert by_id["rock/eight_k"]["sample_rate"] == "8000"
    assert float(by_id["rock/one_second"]["duration_s"]) == pytest.approx(1.0)
    assert by_id["jazz/opus"]["format"] == "opus"
    rejected = (out / "rejected.csv").read_text()
    assert "jazz.00054.wav" in rejected
    assert "empty.wav" in rejected and "empty file" in rejected
    assert "notes.mp3" in rejected and "not a decodable MP3 file (truncated, corrupt" in rejected
    # libsndfile's own words ("... not a regular file (possibly a pipe?)") reach the log only.
    assert "possibly a pipe" not in rejected and "libsndfile" not in rejected
    assert "possibly a pipe" in caplog.text


def test_missing_folder_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        discover(tmp_path / "nope")


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "rock").mkdir()
    with pytest.raises(DatasetError, match="no audio files"):
        discover(tmp_path)


def test_label_without_usable_track_names_it(tmp_path, tone):
    tone("rock/a.wav", duration_s=1.0)
    (tmp_path / "jazz").mkdir()
    (tmp_path / "jazz" / "broken.wav").write_bytes(b"garbage")
    candidates, pre = discover(tmp_path)
    with pytest.raises(DatasetError, match="'jazz'"):
        inventory(candidates, tmp_path / "t.csv", tmp_path / "r.csv", pre_rejected=pre)
    assert "broken.wav" in (tmp_path / "r.csv").read_text()


def test_duplicate_stems_keep_the_first(tmp_path, tone):
    tone("rock/a.wav", duration_s=1.0)
    tone("rock/a.flac", duration_s=1.0, fmt="FLAC")
    candidates, rejected = discover(tmp_path)
    assert [c.path.name for c in candidates] == ["a.flac"]
    assert "duplicate" in rejected[0][1]


def test_probe_error_names_file_and_reason(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    with pytest.raises(AudioError) as err:
        probe(bad)
    assert str(bad) in str(err.value) and err.value.reason


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("mono.wav", {}),
        ("stereo.wav", {"sr": 44100, "channels": 2}),
        ("float.wav", {"subtype": "FLOAT"}),
        ("x.flac", {"fmt": "FLAC"}),
        ("x.au", {"fmt": "AU"}),
    ],
)
def test_mp3_round_trip_keeps_length(tmp_path, tone, name, kwargs):
    src = tone(name, duration_s=2.0, **kwargs)
    dst = tmp_path / "out" / "x.mp3"
    to_mp3(src, dst, bitrate="128k")
    info = sf.info(str(dst))
    assert info.format == "MP3"
    y = load(dst, sr=22050)
    assert abs(len(y) - 2 * 22050) < 0.01 * 22050
    assert np.abs(y).max() > 0.1


def test_mp3_input_is_copied_not_reencoded(tmp_path, tone):
    src = tmp_path / "a.mp3"
    to_mp3(tone("a.wav", duration_s=1.0), src)
    to_mp3(src, tmp_path / "b.mp3")
    assert (tmp_path / "b.mp3").read_bytes() == src.read_bytes()


def test_mp3_works_without_ffmpeg_on_path(tmp_path, tone, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert shutil.which("ffmpeg") is None
    to_mp3(tone("a.wav", duration_s=1.0), tmp_path / "a.mp3")
    assert sf.info(str(tmp_path / "a.mp3")).format == "MP3"
