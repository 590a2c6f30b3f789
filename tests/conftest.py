"""Shared pytest settings: numba caches into the repo's .cache so test runs stay warm."""
