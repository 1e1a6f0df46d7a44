"""Sweeps: a grid of points over a scenario's keys, run in parallel (a process pool or Ray) into a
sweep directory, and drawn as a phase map. grid.py, store.py and show.py import no torch."""
