"""edgeemg: surface-EMG decoders from a GPU to a wearable's edge board."""

__version__ = "0.1.0"
