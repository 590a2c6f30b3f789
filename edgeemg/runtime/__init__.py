"""edgeemg.runtime."""
