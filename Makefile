# Two commands set everything up on a fresh machine with Python >= 3.10 and pip:
#   make run    create .venv, install, run the embedded default workflow
#   make test   install the test extras, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# cpu (tensorflow-cpu) or gpu (tensorflow[and-cuda])
TF ?= cpu
CORES ?= all
SNAKEMAKE_ARGS ?=

.PHONY: venv install install-test install-docs run report test test-cluster lint docs docs-results clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Pretrained weights: the musicnn wheel carries its trained checkpoints (ISC licence).
# Installed without its dependencies (it pins numpy<1.17); divconq reads only its
# checkpoint files and never imports its code (divconq.models.musicnn).
MUSICNN ?= musicnn==0.1.0

# The stamp makes re-running make cheap; it is redone when pyproject.toml changes.
$(VENV)/.installed-$(TF): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[$(TF),cluster]"
	$(BIN)/python -m pip install -q --no-deps $(MUSICNN)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-$(TF)
	$(BIN)/python -m pip install -q -e ".[$(TF),cluster,test]"
	touch $@

# The documentation needs no TensorFlow: mkdocstrings reads the sources under src/.
$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[docs]"
	touch $@

venv: $(BIN)/python
install: $(VENV)/.installed-$(TF)
install-test: $(VENV)/.installed-test
install-docs: $(VENV)/.installed-docs

# --scheduler-subsample: Snakemake otherwise re-reads the input sizes of every ready
# job whenever one finishes, which grows with the square of the number of tracks.
run: install
	$(BIN)/snakemake --cores $(CORES) --scheduler-subsample 32 --configfile config.yaml $(SNAKEMAKE_ARGS)

# The tables, figures, selection and champion card of the last run in one page
# (report.html); give the run's own config files as it was run, e.g.
#   make report SNAKEMAKE_ARGS="--configfile presets/collection.yaml --config dataset=..."
report: install
	$(BIN)/snakemake --report report.html --configfile config.yaml $(SNAKEMAKE_ARGS)

test: install-test
	$(BIN)/python -m pytest -q

# Run the tiny config on a throw-away single-node SLURM (as root; apt-installs
# slurm-wlm and munge if missing) through profiles/slurm; compare with a local run.
test-cluster: install
	VENV=$(VENV) tests/cluster/test_cluster.sh

lint: install-test
	$(BIN)/ruff check src tests workflow benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules

# The documentation site (mkdocs.yml) into site/; --strict: a warning (broken link,
# page missing from the nav, schema key without a description) fails the build.
docs: install-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Copy the result tables the docs show from results/realmusic* into docs/results/
# (committed: CI has no results/) and re-render the README's table.
docs-results: install-docs
	$(BIN)/python docs/scripts/snapshot_results.py

clean:
	rm -rf results/* .snakemake
