"""Progress of a sweep, through tqdm: chunks done, steps done inside the running chunks, and an
ETA per stage.

`label: 12/40 chunks [elapsed 00:35] <what finished> | stage adam/discrete eta 0:42 | total eta ~1:20`

* Chunks: on a terminal tqdm redraws one bar; into a file or a pipe (CI logs) one line per
  finished chunk. `stream=None` silences it.
* Steps inside chunks: the discrete engine calls `report_block_steps` (its `on_steps` host
  callback) every `report_every` steps of a block of runs; the bar shows the share of the sweep's
  discrete steps done, redrawn on a terminal, or one line at most every `line_interval` seconds
  in a log, so a chunk of 10⁵ steps is not silent for minutes.
* ETA per stage: a stage is one (optimizer, method) task or the GD landing; unlike stages cost
  very different times per chunk (a flow against 10⁵ Adam steps), so each stage's ETA is its own
  remaining chunks times its own measured time per chunk, and the total ETA sums the stages
  (stages not yet started are estimated from the measured step rate where they are discrete,
  and marked "+?" where they are not). Chunks found on disk count in neither.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

from tqdm import tqdm

BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} chunks [{elapsed}]{postfix}"

_ACTIVE: list[Progress] = []
_LOCK = threading.Lock()


def report_block_steps(count) -> None:
    """Host callback of the discrete engine: `count` more steps of one block of runs."""
    with _LOCK:
        bar = _ACTIVE[-1] if _ACTIVE else None
    if bar is not None:
        bar.add_steps(int(count))


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """`stages`: stage name → (chunks to compute, block-steps per chunk; 0 if not a discrete stage)."""

    def __init__(self, total: int, *, initial: int = 0, stream: TextIO | None = None, label: str = "",
                 stages: dict[str, tuple[int, int]] | None = None, line_interval: float = 30.0):
        self.total, self.done, self.label, self.stream = total, initial, label, stream
        self.stages = {name: list(v) for name, v in (stages or {}).items()}  # name → [remaining, steps/chunk]
        self.stage_time: dict[str, list[float]] = {}
        self.steps_total = sum(n * s for n, s in self.stages.values())
        self.steps_done = 0
        self.line_interval = line_interval
        self.t0 = self.t_last = self._t_line = time.perf_counter()
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self._bar = None
        self._lock = threading.Lock()
        if stream is not None:
            cached = f", {initial} already on disk" if initial else ""
            print(f"{label}: {total} chunks{cached}", file=stream, flush=True)
            if self.tty:
                self._bar = tqdm(total=total, initial=initial, file=stream, desc=label, unit="chunk",
                                 bar_format=BAR_FORMAT, dynamic_ncols=True, leave=True)

    # ---- in-chunk steps ----
    def add_steps(self, count: int) -> None:
        with self._lock:
            self.steps_done += count
            now = time.perf_counter()
            if self.stream is None or not self.steps_total:
                return
            if self._bar is not None:
                self._bar.set_postfix_str(self._postfix(""), refresh=True)
            elif now - self._t_line >= self.line_interval:
                self._t_line = now
                print(f"{self.label}: {self.done}/{self.total} chunks, {self._steps_text()} [elapsed {_clock(now - self.t0)}]",
                      file=self.stream, flush=True)

    def _steps_text(self) -> str:
        share = min(1.0, self.steps_done / self.steps_total) if self.steps_total else 1.0
        return f"discrete steps {share:.0%}"

    # ---- chunks ----
    def eta(self, stage: str | None = None) -> tuple[float | None, bool]:
        """(seconds, complete): one stage's ETA, or the total over stages; `complete` is False when
        a stage with no measurement could not be estimated."""
        names = [stage] if stage is not None else list(self.stages)
        elapsed = time.perf_counter() - self.t0
        step_rate = self.steps_done / elapsed if self.steps_done and elapsed > 0 else None
        total, complete = 0.0, True
        for name in names:
            remaining, steps = self.stages.get(name, (0, 0))
            if not remaining:
                continue
            times = self.stage_time.get(name)
            if times:
                total += remaining * sum(times) / len(times)
            elif steps and step_rate:
                total += remaining * steps / step_rate
            else:
                complete = False
        return total, complete

    def _postfix(self, what: str) -> str:
        parts = [what] if what else []
        if self.steps_total:
            parts.append(self._steps_text())
        seconds, complete = self.eta()
        if self.done < self.total:
            if complete:
                parts.append(f"total eta ~{_clock(seconds)}")
            else:
                parts.append(f"total eta ~{_clock(seconds)} +?" if seconds else "total eta ?")
        return " | ".join(parts)

    def line(self, what: str = "", stage: str | None = None) -> str:
        """The log line of the current state (what a non-terminal stream gets per finished chunk)."""
        now = time.perf_counter()
        text = f"{self.label}: {self.done}/{self.total} chunks [elapsed {_clock(now - self.t0)}]"
        if what:
            text += f" {what}"
        if stage is not None and self.stages.get(stage, (0,))[0]:
            seconds, _ = self.eta(stage)
            text += f" | stage {stage} eta {_clock(seconds)}"
        rest = self._postfix("")
        return text + (f" | {rest}" if rest else "")

    def update(self, what: str = "", count: int = 1, stage: str | None = None) -> None:
        """`count` chunks of `stage` finished (`what` names them)."""
        with self._lock:
            now = time.perf_counter()
            self.done += count
            if stage is not None:
                self.stage_time.setdefault(stage, []).append((now - self.t_last) / count)
                if stage in self.stages:
                    self.stages[stage][0] = max(0, self.stages[stage][0] - count)
            self.t_last = now
            if self.stream is None:
                return
            if self._bar is not None:
                self._bar.set_postfix_str(self._postfix(what), refresh=False)
                self._bar.update(count)
            else:
                self._t_line = now
                print(self.line(what, stage), file=self.stream, flush=True)

    # ---- the engine's callback goes to the innermost active bar ----
    def __enter__(self) -> Progress:
        with _LOCK:
            _ACTIVE.append(self)
        return self

    def __exit__(self, *exc) -> None:
        with _LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
