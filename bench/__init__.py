"""Benchmarks: scripts that run the real system and print figures (they assert nothing)."""
