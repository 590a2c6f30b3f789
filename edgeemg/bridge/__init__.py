"""edgeemg.bridge."""
