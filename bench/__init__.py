"""Benchmarks: a production-like stack on loopback and scenarios that measure it (`make bench`)."""
