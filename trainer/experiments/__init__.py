"""Offline experiments that run the trainer on a data folder (the acceptance figures)."""
