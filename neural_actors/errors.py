"""The exceptions of the neural actors: model stores, mixtures of experts, sharded trees.

Each subclasses the builtin that fits and keeps its parts as attributes (and exception
arguments), so a caller can act on them and they pickle for other processes.
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["ExpertsUnavailable", "ModelNotFound", "SubtreeUnavailable"]


class ModelNotFound(LookupError):
    """Raised when a model source names no model: a ``store:`` name nobody put, or a file that
    does not exist."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(source, reason)
        self.source = source
        self.reason = reason

    def __str__(self) -> str:
        return f"model {self.source!r}: {self.reason}"


class ExpertsUnavailable(RuntimeError):
    """Raised when a mixture-of-experts request cannot give ``k_min`` expert answers to every
    token: ``missing`` names the chosen experts that failed or were late, ``tokens`` how many
    tokens fell short."""

    def __init__(self, layer: Hashable, missing: tuple[int, ...], tokens: int, k_min: int) -> None:
        super().__init__(layer, missing, tokens, k_min)
        self.layer = layer
        self.missing = missing
        self.tokens = tokens
        self.k_min = k_min

    def __str__(self) -> str:
        experts = ", ".join(str(e) for e in self.missing)
        return (f"{self.layer}: {self.tokens} token(s) got fewer than k_min = {self.k_min} expert answers; "
                f"experts {experts} failed or did not answer in time")


class SubtreeUnavailable(RuntimeError):
    """Raised when tokens of a sharded FFF request were routed to a subtree whose actor is dead
    or did not answer in time: ``subtrees`` names them, ``tokens`` counts the tokens."""

    def __init__(self, tree: Hashable, subtrees: tuple[int, ...], tokens: int) -> None:
        super().__init__(tree, subtrees, tokens)
        self.tree = tree
        self.subtrees = subtrees
        self.tokens = tokens

    def __str__(self) -> str:
        shown = ", ".join(str(s) for s in self.subtrees)
        return f"{self.tree}: {self.tokens} token(s) were routed to subtree(s) {shown}, which did not answer"
