"""Braille drawing without a terminal toolkit: the dot canvas, axis ticks, min/max downsampling, the
robust y range and the off-scale marks. The app's Chart widget draws with it, and so do the headless
printouts (`eos-tui landscape`), which must not pay for importing Textual (tests/test_layers.py):
nothing here imports textual or torch."""
