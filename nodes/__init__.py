"""Nodes on Ray: each node a ``Runtime`` inside one async Ray actor; pids, names, links and
monitors that cross nodes; supervisors that place children on other nodes.

Ray is an optional dependency (``pip install 'neural-actors[ray]'``); the core layers never
import it. See ``docs/nodes.md``.
"""

from .cluster import Cluster as Cluster
from .cluster import PendingCall as PendingCall
from .cluster import cluster as cluster
from .cluster import register_global as register_global
from .cluster import whereis_global as whereis_global
from .config import NodesSection as NodesSection
from .config import place_tree as place_tree
from .config import start_config as start_config
from .errors import ClusterError as ClusterError
from .names import Global as Global
from .route import ClusterRoute as ClusterRoute
from .route import RouteStatistics as RouteStatistics

__all__ = [
    "Cluster", "ClusterError", "ClusterRoute", "Global", "NodesSection", "PendingCall", "RouteStatistics", "cluster",
    "place_tree", "register_global", "start_config", "whereis_global",
]
