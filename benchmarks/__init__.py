"""Speed and memory measurements, run by `make bench` (never by `make test`).

Every target is a ratio measured side by side in one run on the same machine.
"""
