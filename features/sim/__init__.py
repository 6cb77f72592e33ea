"""Pieces of the synthetic-cohort simulator (see features/simulate.py and docs/simulator.md)."""
