"""Numba kernels: pure functions over numpy arrays, each with a plain-numpy reference.

This layer imports nothing else of neural-actors.
"""
