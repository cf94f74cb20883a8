# The embedded default dataset: GTZAN-shaped synthetic music, one job per track.


rule synth_track:
    output:
        f"{RESULTS}/synthetic/{{label}}/{{track}}.wav",
    log:
        f"{RESULTS}/logs/synth/{{label}}/{{track}}.log",
    wildcard_constraints:
        track=r"[^/]+\.\d+",
    conda:
        "../../envs/data.yaml"
    params:
        index=lambda wc: int(wc.track.rsplit(".", 1)[1]),
        syn=DATASET["synthetic"],
    shell:
        "python -m divconq.cli synth {output:q} --label {wildcards.label:q}"
        " --index {params.index} --n-genres {params.syn[genres]}"
        " --duration {params.syn[duration_s]} --sample-rate {params.syn[sample_rate]}"
        " --difficulty {params.syn[difficulty]} --seed {params.syn[seed]} > {log:q} 2>&1"
