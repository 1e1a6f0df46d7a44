"""What the records mean: online detectors and per-arm summaries (pure Python, no torch, no textual).

The engine feeds the detectors as it trains; the headless summary, the manifest and the app all
compute their numbers from the same records with the same functions, so they cannot disagree.
"""
