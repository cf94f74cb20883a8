"""The data stage: audio decoding, the inventory, MP3 copies, per-track log-mel and
embedding files, and the synthetic set.

Per-track jobs import these modules directly, so this package ``__init__`` stays empty.
"""
