"""Speed and memory measurements, run by `make bench` (never by `make test`).

Every target is a ratio measured side by side in one run on the same machine.
"""

from implicit_bias_lab.precision import enable_x64

enable_x64()  # benchmark scripts, not the library: they measure the float64 routes the lab runs
