"""How often rg-import's own processes run Python's cycle collector.

Python collects its youngest objects after every 700 container allocations
and, every tenth and hundredth time, the older generations as well: the oldest
holds everything pandas, pandera and numpy left from their imports (about
100,000 objects), and each full pass over it took 40 to 80 ms. A run allocates
fast (the plan's rows, each lead's payload, answer and ledger write), so a run
of 20,000 leads at 0 ms spent about 0.5 s of its CPU collecting, 4% of it,
four fifths of that in five full passes. With the youngest collected every
20,000 allocations and the middle one every twentieth time, the same run spent
0.14 s and made no full pass; objects freed by their reference counts (almost
all of them) are freed as before, and the peak memory of a plan of 100,000 and
of 1,000,000 rows stayed the same (255 and 325-350 MB). Side by side with
``bench/run_cpu_ab.py`` (3,000 rows at 0 ms, two runs): CPU per lead over the
whole run ×0.91 to ×0.97, leads/s ×1.02 to ×1.10 (bench/README.md).

Only the installed script's process (``importer.cli.main``) and its sending
processes (``importer.send.process_child``) are changed: a caller of the
library keeps its own settings.
"""

from __future__ import annotations

import gc

__all__ = ["THRESHOLDS", "collect_less_often"]

# youngest generation: allocations between collections (Python's default 700);
# middle: collections of the youngest between its own (10); oldest as Python has it (10)
THRESHOLDS = (20_000, 20, 10)


def collect_less_often() -> None:
    """Set this process's cycle collector to ``THRESHOLDS``."""
    gc.set_threshold(*THRESHOLDS)
