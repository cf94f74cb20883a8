"""divconq: divide & conquer audio classification.

Kept import-light on purpose: per-track Snakemake jobs import submodules
directly, and a heavy package ``__init__`` would be paid once per track.
"""

__version__ = "0.1.0"
