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
