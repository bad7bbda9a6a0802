"""Benchmarks: each bench_<name>.py has main() printing a markdown table. Not pass/fail tests."""
