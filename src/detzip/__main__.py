"""``python -m detzip``."""

import gc
import sys

# the CLI's modules are imported without the cyclic garbage collector, then frozen: their
# objects live until the process ends, and each collection would only walk them again; the
# command collects late (see detzip.cli.collect_late), never put back: the process ends with it
_collecting = gc.isenabled()
gc.disable()

from detzip.cli import collect_late, main  # noqa: E402 (after the collector is paused)

gc.freeze()
if _collecting:
    gc.enable()
collect_late()
sys.exit(main())
