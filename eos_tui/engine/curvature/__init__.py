"""Curvature of the training loss, written once: the Hessian operator and its products
(`hessian`), Lanczos for its top eigenpairs, converged or tracked per step (`lanczos`), and the
gradient and gradient flow by RK4 (`flow`).

Engine code: imports torch, never textual.
"""
