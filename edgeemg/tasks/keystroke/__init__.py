"""edgeemg.tasks.keystroke."""
