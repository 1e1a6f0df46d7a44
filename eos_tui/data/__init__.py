"""Real data sets for the engine: CIFAR-10 (the "python version" files), MNIST and Fashion-MNIST
(gzipped IDX files), scikit-learn's UCI digits, the central-flows sorting task, the user's own .npz.

numpy only, never torch: the engine (eos_tui/engine/problems.py) turns what these return into
tensors. The scenario layer imports only the torch- and numpy-free parts (`cifar10.locate`,
`cifar10.default_root`, `npz.inspect` imports numpy lazily) to check files before a run starts.

    cifar10.load(...) / npz.load(...) -> Dataset     inputs, labels or targets, an optional test split
    mnist.load(name, ...) / digits.load(...) / sort.load(...) -> Dataset
    cifar10.fetch(root) / mnist.fetch(name, root)     download the official files, MD5-checked
    idx.read(path, ...)                               an IDX array (gzipped or not), header checked
    safe_pickle.load(fh, name)                        the restricted unpickler CIFAR-10's files need
"""

from __future__ import annotations

from .errors import DataError

__all__ = ["DataError"]
