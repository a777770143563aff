"""The exceptions of the nodes layer."""

from __future__ import annotations

from typing import Any

__all__ = ["ClusterError", "ServiceUnavailable"]


class ClusterError(RuntimeError):
    """Raised when a cluster cannot be started or reached, or a node cannot do what the driver
    asked (it is gone, or the request is not something a node can do); says which and why."""

    def __init__(self, message: str, *, node: Any = None) -> None:
        super().__init__(message)
        self.node = node


class ServiceUnavailable(RuntimeError):
    """Raised when no worker of a service could answer a request; says what each try met."""
