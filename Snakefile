# divconq: divide & conquer audio classification.
#
#   snakemake --cores N                      everything: data, models, tables, report
#   snakemake --cores N results/split/manifest.csv     the data stage only
#   snakemake --cores 1 results/spectrograms/<label>/<track>.h5   one artifact
#
# Stages live in workflow/rules/; docs/architecture.md describes their files.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"


# Labels and track names are single path components; anything else goes.
wildcard_constraints:
    label=r"[^/]+",
    track=r"[^/]+",


include: "workflow/rules/data.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/predict.smk"


rule all:
    default_target: True
    input:
        final_targets(),
        per_track_targets,
