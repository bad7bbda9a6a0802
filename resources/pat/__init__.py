"""Data shipped with the PAT engine (depression-screen demo model and its card)."""
