"""Benchmark scripts: each measures its subject and its baseline in the same run."""
