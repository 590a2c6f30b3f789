"""edgeemg.data."""
