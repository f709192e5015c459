"""Benchmarks that print figures against the project's targets."""
