"""Start calls at the same instant, each on its own thread: concurrency as test input."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_at_once(*calls: Callable[[], object], timeout: float = 60.0) -> list[object]:
    """Each call's result, or the exception it raised, in the calls' order; the threads
    are released together by a barrier."""
    start = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        start.wait()
        try:
            results[index] = call()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
        if thread.is_alive():
            raise AssertionError(f"a call did not end within {timeout:.0f}s")
    return results
