"""Test helpers for neural-actors users: the virtual-clock loop, fault plans, log capture.

Installed as a pytest plugin (entry point ``neural_actors``).
"""
