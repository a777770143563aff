"""Nodes on Ray: a cluster of runtimes, remote pids, links and monitors across nodes."""

from .errors import ClusterError as ClusterError
from .names import Global as Global
from .route import ClusterRoute as ClusterRoute
from .route import RouteStatistics as RouteStatistics

__all__ = ["ClusterError", "ClusterRoute", "Global", "RouteStatistics"]
