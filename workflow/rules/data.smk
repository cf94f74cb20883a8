# Data stage: the embedded synthetic set (when the dataset is synthetic), the
# inventory of the input audio, then per track an MP3 (unless data.features_from is
# source) and HDF5 features, made in batches of tracks (rule data_batch) or one track
# at a time when a track's file is asked for by name (rules mp3, spectrogram).
#
# These rules are shell commands calling the package's CLI rather than script:
# jobs; a script: job loads Snakemake itself (~0.08 s of CPU), which would be a
# quarter of a track's whole budget.

import os

from divconq.data.ffmpeg import ffmpeg_exe

# ffmpeg resolved once per run, for every job: without it each MP3 job pays
# imageio-ffmpeg's `ffmpeg -version` check (~13 ms of CPU, ~4 % of a track).
os.environ.setdefault("IMAGEIO_FFMPEG_EXE", ffmpeg_exe())


# The embedded default dataset: GTZAN-shaped synthetic music, one job per genre
# (starting Python and importing numpy costs more than rendering one 30-s track).


rule synth_genre:
    output:
        synthetic_genre_wavs(),
    log:
        f"{RESULTS}/logs/synth/{{label}}.log",
    wildcard_constraints:
        label=r"[^/.]+",
    conda:
        "../../envs/data.yaml"
    params:
        indexes=" ".join(map(str, range(DATASET["synthetic"]["tracks_per_genre"]))),
        syn=DATASET["synthetic"],
    shell:
        "python -m divconq.cli synth {output:q} --label {wildcards.label:q}"
        " --index {params.indexes} --n-genres {params.syn[genres]}"
        " --duration {params.syn[duration_s]} --sample-rate {params.syn[sample_rate]}"
        " --difficulty {params.syn[difficulty]} --seed {params.syn[seed]} > {log:q} 2>&1"


checkpoint inventory:
    input:
        list(SOURCES.values()),
    output:
        tracks=f"{RESULTS}/inventory/tracks.csv",
        rejected=f"{RESULTS}/inventory/rejected.csv",
    log:
        f"{RESULTS}/logs/inventory.log",
    benchmark:
        f"{RESULTS}/benchmarks/inventory.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 2
    params:
        # <root>/<label>/<file>: the dataset folder is two levels above any input
        root=lambda wildcards, input: str(Path(input[0]).parents[1]),
        # Changes when a source is replaced even with its old mtime kept (ctime,
        # inode), so that Snakemake reruns the inventory, which hashes that file again.
        sources=sources_state(),
        # Fingerprints of the last run: only new or changed files are hashed.
        cache=f"{RESULTS}/inventory/fingerprints.tsv",
    script:
        "../scripts/inventory.py"


# The MP3 and the HDF5 of `data.tracks_per_job` tracks of the inventory in one process
# (divconq.data.batch): each track's files are written on their own and skipped when
# current (made from the source content the inventory fingerprinted), so a killed
# batch keeps its finished tracks. The listing, written last, is what the split waits
# for.
rule data_batch:
    input:
        # Not the batch's audio files (as inputs, 100,000 files cost Snakemake ~20 s
        # of planning per call): the inventory fingerprints them, so tracks.csv
        # changes when a source's content does, and every batch reruns, remaking
        # only the tracks whose files were made from other content.
        tracks=f"{RESULTS}/inventory/tracks.csv",
    output:
        f"{RESULTS}/data_batches/{{batch}}.csv",
    log:
        f"{RESULTS}/logs/data_batch/{{batch}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/data_batch/{{batch}}.tsv"
    wildcard_constraints:
        batch=r"\d{5}",
    conda:
        "../../envs/data.yaml"
    params:
        tracks_per_job=lambda wc: tracks_per_job(),
        results=RESULTS,
        features=feature_params_json(),
        clip=clip_flag(),
        bitrate=config["mp3"]["bitrate"],
        quality=config["mp3"]["quality"],
        features_from=config["data"]["features_from"],
    shell:
        "python -m divconq.cli data-batch {input.tracks:q} {output:q} --batch {wildcards.batch}"
        " --tracks-per-job {params.tracks_per_job} --results {params.results:q}"
        " --params {params.features:q} {params.clip} --features-from {params.features_from}"
        " --bitrate {params.bitrate} --quality {params.quality} > {log:q} 2>&1"


# One track's MP3 and HDF5, when asked for by name.
rule mp3:
    input:
        source_audio,
    output:
        f"{RESULTS}/mp3/{{label}}/{{track}}.mp3",
    log:
        f"{RESULTS}/logs/mp3/{{label}}/{{track}}.log",
    conda:
        "../../envs/data.yaml"
    params:
        bitrate=config["mp3"]["bitrate"],
        quality=config["mp3"]["quality"],
    shell:
        "python -m divconq.cli mp3 {input:q} {output:q}"
        " --bitrate {params.bitrate} --quality {params.quality} > {log:q} 2>&1"


# The HDF5 of the track's MP3, or of its source with `data.features_from: source`.
rule spectrogram:
    input:
        spectrogram_audio,
    output:
        f"{RESULTS}/spectrograms/{{label}}/{{track}}.h5",
    log:
        f"{RESULTS}/logs/spectrogram/{{label}}/{{track}}.log",
    conda:
        "../../envs/data.yaml"
    params:
        track=lambda wc: f"{wc.label}/{wc.track}",
        source=source_audio,
        features=feature_params_json(),
        clip=clip_flag(),
        bitrate=config["mp3"]["bitrate"],
        quality=config["mp3"]["quality"],
        features_from=config["data"]["features_from"],
    shell:
        "python -m divconq.cli features {input:q} {output:q} --track {params.track:q}"
        " --source {params.source:q} --params {params.features:q} {params.clip}"
        " --features-from {params.features_from}"
        " --mp3-bitrate {params.bitrate} --mp3-quality {params.quality} > {log:q} 2>&1"


# The pretrained network's own log-mel of a whole track (divconq.data.embeddings), for
# experiments that fine-tune the network (trainable: all): patches are cut from it
# when it is read. Decoding and a mel spectrogram, no TensorFlow. Made in batches of
# data.tracks_per_job tracks, as the data batches are; rule musicnn_mel makes one
# track's when it is asked for by name.
rule musicnn_mel_batch:
    input:
        tracks=f"{RESULTS}/inventory/tracks.csv",
    output:
        f"{RESULTS}/musicnn_mel_batches/{{batch}}.csv",
    log:
        f"{RESULTS}/logs/musicnn_mel_batch/{{batch}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/musicnn_mel_batch/{{batch}}.tsv"
    wildcard_constraints:
        batch=r"\d{5}",
    conda:
        "../../envs/data.yaml"
    params:
        tracks_per_job=lambda wc: tracks_per_job(),
        results=RESULTS,
    shell:
        "python -m divconq.cli musicnn-mel-batch {input.tracks:q} {output:q}"
        " --batch {wildcards.batch} --tracks-per-job {params.tracks_per_job}"
        " --results {params.results:q} > {log:q} 2>&1"


rule musicnn_mel:
    input:
        source_audio,
    output:
        f"{RESULTS}/musicnn_mels/{{label}}/{{track}}.h5",
    log:
        f"{RESULTS}/logs/musicnn_mel/{{label}}/{{track}}.log",
    conda:
        "../../envs/data.yaml"
    params:
        track=lambda wc: f"{wc.label}/{wc.track}",
    shell:
        "python -m divconq.cli musicnn-mel {input:q} {output:q} --track {params.track:q}"
        " > {log:q} 2>&1"


# Pretrained embeddings of every 3-s patch (divconq.data.embeddings), for experiments with
# input: embeddings: one HDF5 per track and checkpoint, from the decoded source audio
# at 16 kHz. A job starts TensorFlow and the network (~9 CPU-s), then embeds ~1-3 CPU-s
# per audio minute with 1-2 threads (AMD EPYC, 2 cores, AVX-512; docs/embeddings.md,
# "Cost"), so the tracks are embedded in batches of embedding.tracks_per_job, each
# file written on its own and skipped when current; rule embedding makes one track's
# when asked for by name.
rule embedding_batch:
    input:
        tracks=f"{RESULTS}/inventory/tracks.csv",
    output:
        f"{RESULTS}/embedding_batches/{{model}}/{{batch}}.csv",
    log:
        f"{RESULTS}/logs/embedding_batch/{{model}}/{{batch}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/embedding_batch/{{model}}/{{batch}}.tsv"
    wildcard_constraints:
        model=EMBEDDING_MODELS,
        batch=r"\d{5}",
    conda:
        "../../envs/embed.yaml"
    threads: EMBEDDING["threads"]
    resources:
        mem_mb=EMBEDDING["mem_mb"],
    params:
        tracks_per_job=lambda wc: tracks_per_job("embedding"),
        results=RESULTS,
        embedding=lambda wc: embedding_params_json(wc.model),
    shell:
        "python -m divconq.cli embed-batch {input.tracks:q} {output:q} --batch {wildcards.batch}"
        " --tracks-per-job {params.tracks_per_job} --results {params.results:q}"
        " --params {params.embedding:q} --threads {threads} > {log:q} 2>&1"


rule embedding:
    input:
        source_audio,
    output:
        f"{RESULTS}/embeddings/{{model}}/{{label}}/{{track}}.h5",
    log:
        f"{RESULTS}/logs/embedding/{{model}}/{{label}}/{{track}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/embedding/{{model}}/{{label}}/{{track}}.tsv"
    wildcard_constraints:
        model=EMBEDDING_MODELS,
    conda:
        "../../envs/embed.yaml"
    threads: EMBEDDING["threads"]
    resources:
        mem_mb=EMBEDDING["mem_mb"],
    params:
        track=lambda wc: f"{wc.label}/{wc.track}",
        embedding=lambda wc: embedding_params_json(wc.model),
    shell:
        "python -m divconq.cli embed {input:q} {output:q} --track {params.track:q}"
        " --params {params.embedding:q} --threads {threads} > {log:q} 2>&1"
