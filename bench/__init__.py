"""Benchmarks: each module measures the agent against a reference measured in the same run
and prints the ratio. Run all with `bash bench/run`, one with `python -m bench.NAME`."""
