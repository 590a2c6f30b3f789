"""edgeemg.tasks.gait."""
