"""Tuners that train whole decoder layers: `lisa` and `llamapro`."""
