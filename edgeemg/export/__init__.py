"""edgeemg.export."""
