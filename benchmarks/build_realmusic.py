"""Build a labeled folder of real, human-made music from Debian's archive.

One label per game soundtrack. Each package is fetched with ``apt-get download``
into a cache and read with ``dpkg-deb`` (nothing is installed); its music files
are probed with :func:`divconq.data.audio.probe` (a full decode, so broken files are
dropped too), tracks of ``--min-duration`` seconds or less are left out (jingles,
stingers), and a label with more than ``--max-per-label`` tracks keeps a seeded
random sample of them. Files are copied as they are (Ogg Vorbis, Opus); the
workflow reads any format. Variants of the same tune (sped-up ``*_fast``,
sudden-death ``*_sd``, ``*_old``/``*_remix``/``*_enhanced`` versions) are left out,
so the same music cannot land in training and test.

Layout of ``--out``::

    audio/<label>/<file>     the data set (dataset.path of presets/realmusic.yaml)
    tracks.csv               label, file, package, version, duration, licence, source path
    LICENSES.md              per label: package, version, licences, copyright file
    copyright/<pkg>          each package's Debian copyright file
    build.json               what was built; a rerun with the same inputs does nothing

The licence of each track is read from the package's machine-readable copyright
file (DEP-5: the last ``Files:`` stanza matching the track's upstream path wins);
a package whose copyright file is not machine-readable gets the licence stated in
its free-text file, noted in :data:`SOURCES`.

Not used by the tests or CI (it downloads ~900 MB). Needs ``apt-get`` with
up-to-date package lists (``--update`` runs ``apt-get update`` first) and
``dpkg-deb``. Usage::

    python benchmarks/build_realmusic.py --update
    python benchmarks/build_realmusic.py --out /data/realmusic --cache /data/debcache
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import random
import shutil
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from divconq.data.audio import AUDIO_EXTENSIONS, AudioError, probe

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Source:
    """One soundtrack: where its music lies in a Debian package.

    Attributes
    ----------
    label : str
        Label folder name.
    packages : tuple of str
        Package names, first available wins (names that change between releases).
    music_dir : str
        Glob of the installed music folder (searched recursively).
    upstream_dir : str
        The same folder in the upstream source tree, for matching ``Files:`` stanzas.
    exclude : tuple of str
        Glob patterns of file names to leave out (variants of other tracks).
    licence_note : str
        Licence for a copyright file that is not machine-readable (else empty).
    """

    label: str
    packages: tuple[str, ...]
    music_dir: str
    upstream_dir: str
    exclude: tuple[str, ...] = ()
    licence_note: str = ""


SOURCES = (
    Source("colobot", ("colobot-common-sounds",), "usr/share/games/colobot/music", "data/music"),
    Source(
        "hedgewars",
        ("hedgewars-data",),
        "usr/share/games/hedgewars/Data/Music",
        "share/hedgewars/Data/Music",
        exclude=("*_sd.*", "sdmusic.*"),
    ),
    Source("hyperrogue", ("hyperrogue-music",), "usr/share/hyperrogue/music", "music"),
    Source(
        "supertux",
        ("supertux-data",),
        "usr/share/games/supertux2/music",
        "data/music",
        exclude=("*_old.*", "*_remix.*"),
    ),
    Source(
        "supertuxkart",
        ("supertuxkart-data",),
        "usr/share/games/supertuxkart/data/music",
        "data/music",
        exclude=("*_fast.*", "*_f.*"),
    ),
    Source(
        "warzone2100",
        ("warzone2100-music",),
        "usr/share/games/warzone2100/music",
        "data/music",
        exclude=("*_enhanced.*",),
    ),
    Source(
        "wesnoth",
        ("wesnoth-1.18-music", "wesnoth-1.16-music"),
        "usr/share/games/wesnoth/*/data/core/music",
        "data/core/music",
        exclude=("*-old.*",),
        # The free-text copyright file: "GNU General Public License version 2 or at your
        # option any later version".
        licence_note="GPL-2+",
    ),
    Source("widelands", ("widelands-data",), "usr/share/games/widelands/data/music", "data/music"),
)


@dataclass
class Track:
    """One kept music file."""

    label: str
    file: str
    package: str
    version: str
    duration_s: float
    licence: str
    upstream_path: str
    staged: Path = field(repr=False, default=None)


# ---------------------------------------------------------------------------------------------
# apt and dpkg
# ---------------------------------------------------------------------------------------------


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)
    except FileNotFoundError:
        sys.exit(f"error: {cmd[0]} not found (this builder needs a Debian system)")
    except subprocess.CalledProcessError as err:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{err.stderr.strip()}")


def candidate_version(package: str) -> str | None:
    """The version ``apt-get download`` would fetch, or None when apt does not know it."""
    out = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", package], capture_output=True, text=True
    )
    for line in out.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def resolve(source: Source) -> tuple[str, str]:
    """Pick the first package of ``source`` that apt knows: ``(package, version)``."""
    for package in source.packages:
        version = candidate_version(package)
        if version:
            return package, version
    sys.exit(
        f"error: apt knows none of {', '.join(source.packages)} (label {source.label}); "
        "run with --update, or check /etc/apt/sources.list"
    )


def fetch(package: str, version: str, cache: Path) -> Path:
    """The package's .deb in ``cache``, downloaded unless already there."""
    # apt names the file with the epoch's colon escaped
    deb = cache / f"{package}_{version.replace(':', '%3a')}_all.deb"
    if not deb.exists():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"  downloading {package} {version}", flush=True)
        _run(["apt-get", "download", f"{package}={version}"], cwd=cache)
    if not deb.exists():
        sys.exit(f"error: apt-get download {package} did not write {deb}")
    return deb


def extract(deb: Path, music_dir: str, doc_file: str, dest: Path) -> tuple[list[Path], str]:
    """Extract a package's music folder and read its copyright file, installing nothing.

    Returns
    -------
    music : list of Path
        Extracted audio files under ``dest`` (same relative paths as in the package).
    copyright : str
        Text of ``doc_file`` (empty if the package has none).
    """
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    music, copyright_text = [], ""
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for member in tar:
            name = PurePosixPath(member.name.lstrip("./"))
            if not member.isfile() or ".." in name.parts:
                continue
            in_music = any(fnmatch.fnmatchcase(str(p), music_dir) for p in name.parents)
            if in_music and name.suffix.lower() in AUDIO_EXTENSIONS:
                target = dest.joinpath(*name.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                music.append(target)
            elif str(name) == doc_file:
                copyright_text = tar.extractfile(member).read().decode("utf-8", "replace")
    if proc.wait() != 0:
        sys.exit(f"error: dpkg-deb could not read {deb}")
    return sorted(music), copyright_text


# ---------------------------------------------------------------------------------------------
# Licences
# ---------------------------------------------------------------------------------------------


def dep5_stanzas(text: str) -> list[tuple[list[str], str]] | None:
    """``(file patterns, licence short name)`` of each ``Files:`` stanza, in file order.

    None when the text is not a machine-readable (DEP-5) copyright file.
    """
    if not text.startswith("Format:"):
        return None
    stanzas = []
    for block in text.split("\n\n"):
        fields, key = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if "Files" in fields and "License" in fields:
            stanzas.append((fields["Files"].split(), fields["License"]))
    return stanzas


def licence_of(upstream_path: str, stanzas, note: str) -> str:
    """Licence short name of one file: the last matching stanza wins (DEP-5)."""
    if stanzas is None:
        return note or "see copyright file"
    found = "unknown"
    for patterns, licence in stanzas:
        if any(fnmatch.fnmatchcase(upstream_path, p) for p in patterns):
            found = licence
    return found


# ---------------------------------------------------------------------------------------------
# One soundtrack
# ---------------------------------------------------------------------------------------------


def _music_root(path: Path, staging: Path, music_dir: str) -> Path:
    rel = PurePosixPath(path.relative_to(staging).as_posix())
    return next(p for p in rel.parents if fnmatch.fnmatchcase(str(p), music_dir))


def collect(source: Source, args, staging: Path) -> tuple[list[Track], str, str, str]:
    """Download, extract and probe one soundtrack.

    Returns
    -------
    tracks : list of Track
        Kept tracks (over the minimum duration, sampled down to the cap), sorted by file.
    package, version : str
    copyright : str
        The package's copyright file.
    """
    package, version = resolve(source)
    deb = fetch(package, version, args.cache)
    dest = staging / source.label
    doc = f"usr/share/doc/{package}/copyright"
    files, copyright_text = extract(deb, source.music_dir, doc, dest)
    stanzas = dep5_stanzas(copyright_text)
    files = [f for f in files if not any(fnmatch.fnmatch(f.name, x) for x in source.exclude)]
    with ThreadPoolExecutor(args.threads) as pool:
        infos = list(pool.map(_try_probe, files))
    tracks, names = [], set()
    for path, info in zip(files, infos, strict=True):
        if isinstance(info, str):
            print(f"  skipped {path.name}: {info}")
            continue
        if info.duration_s <= args.min_duration:
            continue
        rel = path.relative_to(dest / _music_root(path, dest, source.music_dir))
        upstream = str(PurePosixPath(source.upstream_dir, *rel.parts))
        # Music in subfolders (supertux) may repeat a name; the folder disambiguates.
        name = path.name if path.name not in names else "_".join(rel.parts)
        names.add(name)
        licence = licence_of(upstream, stanzas, source.licence_note)
        tracks.append(
            Track(
                source.label,
                name,
                package,
                version,
                round(info.duration_s, 2),
                licence,
                upstream,
                path,
            )
        )
    if len(tracks) > args.max_per_label:
        rng = random.Random(f"{args.seed}:{source.label}")
        tracks = sorted(rng.sample(tracks, args.max_per_label), key=lambda t: t.file)
    return tracks, package, version, copyright_text


def _try_probe(path: Path):
    try:
        return probe(path)
    except AudioError as err:
        return str(err)


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------

TRACK_FIELDS = ("label", "file", "package", "version", "duration_s", "licence", "upstream_path")


def licence_table(tracks: list[Track]) -> list[dict]:
    """One row per label: package, version, tracks, minutes, licences (with track counts)."""
    rows = []
    for label in sorted({t.label for t in tracks}):
        mine = [t for t in tracks if t.label == label]
        counts: dict[str, int] = {}
        for t in mine:
            counts[t.licence] = counts.get(t.licence, 0) + 1
        rows.append(
            {
                "label": label,
                "package": mine[0].package,
                "version": mine[0].version,
                "tracks": len(mine),
                "minutes": round(sum(t.duration_s for t in mine) / 60, 1),
                "licence": ", ".join(
                    f"{name} ({n})" if len(counts) > 1 else name
                    for name, n in sorted(counts.items(), key=lambda kv: -kv[1])
                ),
                "copyright": f"copyright/{mine[0].package}",
            }
        )
    return rows


def licences_markdown(rows: list[dict]) -> str:
    """The licence table as Markdown (LICENSES.md and the builder's printout)."""
    head = ("label", "package", "version", "tracks", "minutes", "licence", "copyright")
    lines = [
        "# Real-music data set: sources and licences",
        "",
        "Built by `benchmarks/build_realmusic.py` from Debian packages. Licence short names",
        "are those of each package's copyright file (DEP-5 `License:` of the stanza that",
        "covers the track; with several, the number of tracks under each). The copyright",
        "files are in `copyright/`; per-track details in `tracks.csv`.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    lines += ["| " + " | ".join(str(r[k]) for k in head) + " |" for r in rows]
    total_t = sum(r["tracks"] for r in rows)
    total_m = round(sum(r["minutes"] for r in rows), 1)
    lines += ["", f"{len(rows)} labels, {total_t} tracks, {total_m} minutes."]
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, tracks: list[Track], copyrights: dict[str, str], stamp: dict):
    """Replace ``out``'s audio folder and metadata with the collected tracks."""
    audio = out / "audio"
    if audio.exists():
        shutil.rmtree(audio)
    for t in tracks:
        target = audio / t.label / t.file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(t.staged, target)
    (out / "copyright").mkdir(exist_ok=True)
    for package, text in copyrights.items():
        (out / "copyright" / package).write_text(text, encoding="utf-8")
    with open(out / "tracks.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=TRACK_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(asdict(t) for t in tracks)
    (out / "LICENSES.md").write_text(licences_markdown(licence_table(tracks)), encoding="utf-8")
    (out / "build.json").write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")


def read_tracks(out: Path) -> list[Track]:
    """The tracks of an earlier build (``tracks.csv``)."""
    with open(out / "tracks.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [Track(**{**r, "duration_s": float(r["duration_s"])}) for r in rows]


def up_to_date(out: Path, stamp: dict) -> bool:
    """True when ``out`` holds a complete build made with the same inputs."""
    try:
        old = json.loads((out / "build.json").read_text(encoding="utf-8"))
        tracks = read_tracks(out)
    except (OSError, ValueError, TypeError):
        return False
    return old == stamp and all((out / "audio" / t.label / t.file).is_file() for t in tracks)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Labels: " + ", ".join(s.label for s in SOURCES),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("data/realmusic"),
        help="output folder (default %(default)s); audio in <out>/audio",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path("data/debcache"),
        help="folder for the downloaded .deb files (default %(default)s)",
    )
    parser.add_argument(
        "--labels", nargs="+", metavar="LABEL", help="build only these labels (default: all)"
    )
    parser.add_argument(
        "--min-duration",
        type=float,
        default=30.0,
        help="keep tracks longer than this many seconds (default %(default)s)",
    )
    parser.add_argument(
        "--max-per-label",
        type=int,
        default=30,
        help="seeded random sample of a label with more tracks (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default %(default)s)")
    parser.add_argument(
        "--threads", type=int, default=2, help="probing threads (default %(default)s)"
    )
    parser.add_argument("--update", action="store_true", help="run apt-get update first")
    args = parser.parse_args(argv)
    known = {s.label for s in SOURCES}
    unknown = set(args.labels or ()) - known
    if unknown:
        parser.error(f"unknown labels {sorted(unknown)}; known: {sorted(known)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.update:
        _run(["apt-get", "update"])
    sources = [s for s in SOURCES if not args.labels or s.label in args.labels]
    versions = {s.label: resolve(s) for s in sources}
    stamp = {
        "format": FORMAT_VERSION,
        "sources": [asdict(s) | {"resolved": versions[s.label]} for s in sources],
        "min_duration": args.min_duration,
        "max_per_label": args.max_per_label,
        "seed": args.seed,
    }
    stamp = json.loads(json.dumps(stamp))  # tuples as lists, as build.json reads back
    out = args.out
    if up_to_date(out, stamp):
        print(f"{out} is up to date")
        print(licences_markdown(licence_table(read_tracks(out))))
        return 0
    staging = out / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    tracks, copyrights = [], {}
    for source in sources:
        print(f"{source.label}:", flush=True)
        kept, package, _version, text = collect(source, args, staging)
        print(f"  {len(kept)} tracks from {package}", flush=True)
        tracks += kept
        copyrights[package] = text
    write_outputs(out, tracks, copyrights, stamp)
    shutil.rmtree(staging, ignore_errors=True)
    print(licences_markdown(licence_table(tracks)))
    print(f"data set: {out / 'audio'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
