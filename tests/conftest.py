"""Shared pytest settings (numba caches its compiled kernels beside the sources, in __pycache__)."""
