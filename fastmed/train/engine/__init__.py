"""Training machinery that does not depend on the data path: precision, accumulation, checkpoints, logs, export.

A loop takes any iterable of batch dicts (``{"image", "labels", "report", "mae_mask", ...}``) and a
``step_fn(model, batch) -> loss``; see :func:`~fastmed.train.engine.loop.run_steps`.
"""
