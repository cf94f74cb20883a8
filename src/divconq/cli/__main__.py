"""``python -m divconq.cli <command>``: what the workflow's rules run."""

import sys

from divconq.cli import PER_TRACK_COMMANDS, main

if sys.argv[1:2] and sys.argv[1] in PER_TRACK_COMMANDS:
    # A per-track job lives for a fraction of a second and makes few reference
    # cycles, but the cyclic garbage collector runs over and over while numpy
    # and h5py are imported: ~7 ms per job, ~4 % of the data stage's CPU time.
    # What the process holds is freed when it exits.
    import gc

    gc.disable()
sys.exit(main())
