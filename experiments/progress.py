"""A progress bar for sweeps: `[#####-----] 12/40  30 %  elapsed 35 s  eta 80 s  <what finished>`.

On a terminal the bar redraws one line; into a file or a pipe (CI logs) it writes one line per
finished item. `stream=None` silences it. The ETA counts only items computed in this session, so
chunks found on disk do not make it optimistic.
"""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, *, initial: int = 0, stream: TextIO | None = None, label: str = "", width: int = 24):
        self.total, self.done, self.start_done = total, initial, initial
        self.stream, self.width = stream, width
        self.t0 = time.perf_counter()
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        if stream is not None:
            cached = f", {initial} already on disk" if initial else ""
            print(f"{label}: {total} chunks{cached}", file=stream, flush=True)

    def line(self, what: str = "") -> str:
        frac = self.done / self.total if self.total else 1.0
        filled = round(frac * self.width)
        elapsed = time.perf_counter() - self.t0
        fresh = self.done - self.start_done
        eta = elapsed / fresh * (self.total - self.done) if fresh else float("nan")
        eta_text = f"eta {eta:5.0f} s" if fresh else "eta     ? s"
        return f"[{'#' * filled}{'-' * (self.width - filled)}] {self.done}/{self.total} {100 * frac:3.0f} %  elapsed {elapsed:5.0f} s  {eta_text}  {what}"

    def update(self, what: str = "", count: int = 1) -> None:
        self.done += count
        if self.stream is None:
            return
        if self.tty:
            print("\r" + self.line(what).ljust(100), end="", file=self.stream, flush=True)
        else:
            print(self.line(what), file=self.stream, flush=True)

    def close(self) -> None:
        if self.stream is not None and self.tty:
            print(file=self.stream, flush=True)
