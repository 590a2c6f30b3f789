"""edgeemg.tasks.motor_units."""
