"""Figures: results → pictures (matplotlib, Agg backend)."""

import matplotlib

matplotlib.use("Agg")
