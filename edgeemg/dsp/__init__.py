"""edgeemg.dsp."""
