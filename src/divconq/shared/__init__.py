"""What every stage shares: file I/O and checksums, errors, run locks, script logs,
system facts, input kinds, the numpy log-mel and the generic config checks.

Imports nothing from the stages. Kept import-light: per-track jobs import submodules
directly.
"""
