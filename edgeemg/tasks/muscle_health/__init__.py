"""edgeemg.tasks.muscle_health."""
