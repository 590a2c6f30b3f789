"""Feature codes shared by both kernel backends (the public names live in features.py)."""

F_RMS, F_MAV, F_IEMG, F_VAR, F_WL, F_ZC, F_SSC, F_WAMP = 0, 1, 2, 3, 4, 5, 6, 7
