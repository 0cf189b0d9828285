"""Benchmarks of the live pipeline: `python -m bench.latency`, `python -m bench.fanout`.

docs/benchmarks.md says what each measures, how to run it and the figures measured.
"""
