"""edgeemg.tasks."""
