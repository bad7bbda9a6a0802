"""PAT actigraphy engine: import, sleep and circadian metrics, PAT encoder, depression screen.

Pure logic (no Qt, no database). Modules: ``importer`` (CSV -> ActigraphyRecording),
``nonwear``, ``sleep``, ``circadian``, ``daily``, ``features``, ``encoder`` + ``weights``
(PAT in NumPy, Keras H5 loader), ``screen`` (XGBoost depression screen). Import the submodule
you need; this package does not import xgboost or h5py eagerly. See docs/pat.md.
"""

from engines.pat.recording import ActigraphyRecording

__all__ = ["ActigraphyRecording"]
