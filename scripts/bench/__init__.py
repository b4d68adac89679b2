"""Benchmark sections. Each module exposes ``run(quick: bool) -> list[Row]``; scripts/benchmark.py runs them."""
