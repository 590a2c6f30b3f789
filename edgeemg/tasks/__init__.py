"""One package per decoder, each split in two halves.

Board half (numpy only, imported by the runtime): ``spec.py`` (labels, default
DSP chain, window and hop), ``decoder.py`` (turns model outputs into events:
CTC beam search, gait smoother, spike thresholding) and ``metrics.py``.

Training half (torch, scikit-learn): ``models.py`` and ``workflow.py``. Every
``workflow`` module exposes the same three names so the CLI routes by task:

``MODELS`` : tuple of model names, the first being the default.
``train(data, *, simulate, model, epochs, device, seed, progress, options) -> Checkpoint``
``evaluate(checkpoint, data, *, simulate, seed, device, progress, options) -> dict``

``data`` is a list of files or folders in the task's public format (or None
with ``simulate=True``); ``options`` holds task-specific CLI options (``plot``,
``split``, ``labels``, ``lm`` ...) and a workflow refuses one it does not use.
"""
