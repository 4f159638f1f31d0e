"""Progress of a sweep, through tqdm: `label: 12/40 [00:35<01:20, ...] <what finished>`.

On a terminal tqdm redraws one bar; into a file or a pipe (CI logs) it writes one line per
finished item. `stream=None` silences it. The rate and ETA count only items computed in this
session, so chunks found on disk do not make them optimistic.
"""

from __future__ import annotations

import time
from typing import TextIO

from tqdm import tqdm

BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]{postfix}"
LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} {percentage:3.0f}% [elapsed {elapsed}, eta {remaining}, {rate_fmt}]{postfix}"


class Progress:
    def __init__(self, total: int, *, initial: int = 0, stream: TextIO | None = None, label: str = "", width: int = 24):
        self.total, self.done, self.start_done = total, initial, initial
        self.stream, self.width, self.label = stream, width, label
        self.t0 = time.perf_counter()
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self._bar = None
        if stream is not None:
            cached = f", {initial} already on disk" if initial else ""
            print(f"{label}: {total} chunks{cached}", file=stream, flush=True)
            if self.tty:
                self._bar = tqdm(total=total, initial=initial, file=stream, desc=label, unit="chunk",
                                 bar_format=BAR_FORMAT, dynamic_ncols=True, leave=True)

    def line(self, what: str = "") -> str:
        """The log line of the current state (what a non-terminal stream gets per update)."""
        return tqdm.format_meter(self.done, self.total, time.perf_counter() - self.t0, prefix=self.label,
                                 unit="chunk", initial=self.start_done, bar_format=LINE_FORMAT,
                                 postfix=what or None)

    def update(self, what: str = "", count: int = 1) -> None:
        self.done += count
        if self.stream is None:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(what, refresh=False)
            self._bar.update(count)
        else:
            print(self.line(what), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
