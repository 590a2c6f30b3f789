"""Keystroke decoding from two wrist bands (emg2qwerty): CTC models, LM, online decoder.

Board half (numpy only): :mod:`.spec` (featurisation, labels), :mod:`.decoder`
(greedy and prefix beam search with LM fusion, backspace as delete, online
emission), :mod:`.lm` (character n-gram LM and its binary file), :mod:`.metrics`
(CER/IER/DER/SER), :mod:`.sessions` (sessions -> frames and labels).

Training half (torch): :mod:`.models` (TDS ConvNet, CNN+LSTM, explicit-state
streaming forms), :mod:`.training` (CTC loop), :mod:`.workflow` (the CLI's
``train``/``evaluate``).
"""
