"""Real data sets for the engine: CIFAR-10 (the "python version" files) and the user's own .npz.

numpy only, never torch: the engine (eos_tui/engine/problems.py) turns what these return into
tensors. The scenario layer imports only the torch- and numpy-free parts (`cifar10.locate`,
`cifar10.default_root`, `npz.inspect` imports numpy lazily) to check files before a run starts.

    cifar10.load(...) / npz.load(...) -> Dataset     inputs, labels or targets, an optional test split
    cifar10.fetch(root)                               download the official archive, MD5-checked
    safe_pickle.load(fh, name)                        the restricted unpickler CIFAR-10's files need
"""

from __future__ import annotations

from .errors import DataError

__all__ = ["DataError"]
