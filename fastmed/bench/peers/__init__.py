"""Peer implementations for the augmentation suites, one small module per library.

Every module imports its library lazily inside ``make``: a suite imports these modules
freely and turns an ``ImportError`` (library not installed, or not importable beside this
torch) into an entry of ``Case.missing`` with the reason, never a silent drop.
Each ``make`` returns a zero-argument callable that does one unit of work and returns the
float32 output patch as a numpy array, so tests can check what every peer produced.
"""
