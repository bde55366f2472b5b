"""Benchmarks behind `locus bench`: they measure and report, and are never asserted in tests."""
