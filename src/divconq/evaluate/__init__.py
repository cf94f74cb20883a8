"""The evaluation stage: loading a model folder, scoring windows, track rules, per-seed
evaluation, aggregation over seeds and folds, metrics and figures.
"""
