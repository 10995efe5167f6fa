"""Small helpers shared by the benchmarks: percentiles and the report line format."""

from __future__ import annotations

import statistics


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) of `samples`, interpolated."""
    if not samples:
        raise ValueError("no samples")
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=1000, method="inclusive")[int(q * 10) - 1]


def report(name: str, ours: float, reference: float, unit: str, better: str = "lower") -> str:
    """One line: our figure, the reference's, and ours/reference."""
    ratio = ours / reference if reference else float("inf")
    return (
        f"{name:<44} {ours:>12.3f} {unit:<8} reference {reference:>12.3f} {unit:<8} "
        f"ratio {ratio:>7.2f} ({better} is better)"
    )
