"""Where the chunks of a sweep run: on the local devices, or as Ray tasks.

An executor maps a picklable module-level function over a list of argument tuples and yields
`(index, result)` as results finish, in any order; the caller stores each result as soon as it
arrives (so a stopped sweep loses nothing) and assembles the records in a fixed order (so the
dataset does not depend on the executor, the number of devices or the finishing order).

* `LocalExecutor` — one worker thread per local JAX device, each pinned to its device with
  `jax.default_device`; XLA releases the GIL while it runs, so devices work concurrently. One
  device (the default on a CPU) runs the items in order in the calling thread.
* `RayExecutor` — one Ray task per item, one device each (`num_gpus=1` on a cluster with GPUs,
  else `num_cpus=1`), retried on worker crashes and exceptions. Ray is an optional extra
  (`pip install implicit-bias-lab[ray]`); `address=None` starts a local Ray runtime.

Results are bitwise the same on every executor when the devices are of one kind: every run is
computed by the same compiled program in fixed-size blocks (sde.batching).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax

EXECUTOR_NAMES = ("local", "ray")


class LocalExecutor:
    """Items spread over `devices` (default: all local JAX devices), one thread per device."""

    def __init__(self, devices: int | None = None):
        available = jax.local_devices()
        if devices is None:
            devices = len(available)
        if not 1 <= devices <= len(available):
            raise ValueError(f"option 'devices' must be between 1 and {len(available)} (local JAX devices), got {devices}")
        self.devices = available[:devices]

    def describe(self) -> str:
        return f"local ({len(self.devices)} × {self.devices[0].platform})"

    def map_unordered(self, fn: Callable, items: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        if len(self.devices) == 1 or len(items) <= 1:
            with jax.default_device(self.devices[0]):
                for i, args in enumerate(items):
                    yield i, fn(*args)
            return
        todo: queue.Queue = queue.Queue()
        for i, args in enumerate(items):
            todo.put((i, args))
        done: queue.Queue = queue.Queue()

        def worker(device):
            with jax.default_device(device):
                while True:
                    try:
                        i, args = todo.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        done.put((i, fn(*args), None))
                    except BaseException as err:  # re-raised in the caller's thread
                        done.put((i, None, err))
                        return

        threads = [threading.Thread(target=worker, args=(dev,), daemon=True) for dev in self.devices]
        for t in threads:
            t.start()
        for _ in range(len(items)):
            i, result, err = done.get()
            if err is not None:
                while not todo.empty():  # let the other workers stop after their current item
                    try:
                        todo.get_nowait()
                    except queue.Empty:
                        break
                raise err
            yield i, result


class RayExecutor:
    """Items as Ray tasks (one device each, `retries` retries) on the cluster at `address`."""

    def __init__(self, address: str | None = None, retries: int = 2, num_cpus: int | None = None):
        try:
            import ray
        except ImportError as err:
            raise ValueError("option 'executor' = 'ray' needs Ray: pip install 'implicit-bias-lab[ray]'") from err
        if retries < 0:
            raise ValueError(f"option 'retries' must be >= 0, got {retries}")
        self._ray = ray
        self.retries = retries
        self._started_here = False
        if not ray.is_initialized():
            if address in (None, "", "local"):
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            self._started_here = True
        gpus = ray.cluster_resources().get("GPU", 0)
        self.resources = {"num_gpus": 1} if gpus >= 1 else {"num_cpus": 1}

    def describe(self) -> str:
        res = self._ray.cluster_resources()
        return f"ray ({int(res.get('CPU', 0))} CPUs, {int(res.get('GPU', 0))} GPUs; one {'GPU' if 'num_gpus' in self.resources else 'CPU'} per task)"

    def map_unordered(self, fn: Callable, items: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        ray = self._ray
        remote = ray.remote(max_retries=self.retries, retry_exceptions=True, **self.resources)(fn)
        pending = {remote.remote(*args): i for i, args in enumerate(items)}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                yield pending.pop(ref), ray.get(ref)

    def shutdown(self) -> None:
        if self._started_here:
            self._ray.shutdown()


def make_executor(name: str = "local", *, devices: int | None = None, address: str | None = None,
                  retries: int = 2) -> LocalExecutor | RayExecutor:
    if name == "local":
        if address is not None:
            raise ValueError("option 'address' is for executor 'ray' only")
        return LocalExecutor(devices)
    if name == "ray":
        return RayExecutor(address, retries, num_cpus=devices)
    raise ValueError(f"option 'executor' must be one of {list(EXECUTOR_NAMES)}, got {name!r}")
