"""One module per claim; see `paper_checks/__init__.py`."""
