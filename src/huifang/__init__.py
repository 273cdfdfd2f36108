"""Huifang (回访): post-loan management and follow-up for auto-loan lenders."""

__version__ = "0.1.0"
