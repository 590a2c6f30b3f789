"""edgeemg.decompose."""
