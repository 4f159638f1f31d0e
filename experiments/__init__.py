"""Experiments: typed configs → problem + noise + optimizer → dynamics → results → figures."""
