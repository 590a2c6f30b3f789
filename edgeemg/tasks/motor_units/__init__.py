"""Motor-unit decoder (seed 004, Wen et al. 2021): HD-EMG windows -> spike trains of N units + neural drive.

Board half (numpy only): :mod:`~edgeemg.tasks.motor_units.spec` (2048 Hz, 64
channels, window 120 / step 20, eq. 2 labels, DSP description, 29.3 ms
algorithmic latency), :mod:`~edgeemg.tasks.motor_units.decoder` (threshold 0.5,
per-step spikes, causal 400 ms Hann neural drive) and
:mod:`~edgeemg.tasks.motor_units.metrics` (one-to-one unit matching,
sensitivity / precision / F1 / RoA, neural-drive correlation).

The ``filters`` model (the teacher's separation filters as the board decoder):
:mod:`~edgeemg.tasks.motor_units.filter_decoder` (causal peak detector, numpy
only), :mod:`~edgeemg.tasks.motor_units.separation` (filters re-estimated on the
causal stream), :mod:`~edgeemg.tasks.motor_units.filter_model` (one Conv1d),
:mod:`~edgeemg.tasks.motor_units.filter_workflow` and ``filter_export``.

Training half (torch): :mod:`~edgeemg.tasks.motor_units.models` (MO-DCNN with
all heads as grouped convolutions), :mod:`~edgeemg.tasks.motor_units.training`
and :mod:`~edgeemg.tasks.motor_units.workflow` (teacher labels from
:mod:`edgeemg.decompose`, or the recording's truth; time split 2/3 : 1/3).
"""
