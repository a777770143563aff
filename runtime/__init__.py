"""Processes, mailboxes, immutable messages, links, monitors, registry and the Runtime.

This is everything the layers above may use: ``neural_actors.supervisors`` is built only on
what is exported here.
"""

from .actor import Actor as Actor
from .behaviour import Continue as Continue
from .behaviour import Ignore as Ignore
from .behaviour import NoReply as NoReply
from .behaviour import Stop as Stop
from .calls import Caller as Caller
from .checks import check_seconds as check_seconds
from .checks import check_shutdown as check_shutdown
from .clock import VirtualEventLoop as VirtualEventLoop
from .clock import run as run
from .delivery import Delivery as Delivery
from .delivery import Dispatched as Dispatched
from .delivery import RemoteKind as RemoteKind
from .delivery import RemoteRoute as RemoteRoute
from .delivery import SignalKind as SignalKind
from .delivery import Transport as Transport
from .errors import ActorExited as ActorExited
from .errors import CallingSelf as CallingSelf
from .errors import CallTimeout as CallTimeout
from .errors import Deadlock as Deadlock
from .errors import InternalError as InternalError
from .errors import MailboxFull as MailboxFull
from .errors import NameTaken as NameTaken
from .errors import NoProcess as NoProcess
from .errors import PlacementError as PlacementError
from .errors import RuntimeClosed as RuntimeClosed
from .errors import StartFailed as StartFailed
from .errors import StartIgnored as StartIgnored
from .errors import Unreachable as Unreachable
from .errors import format_reason as format_reason
from .links import Down as Down
from .links import Exit as Exit
from .links import is_normal as is_normal
from .links import is_shutdown as is_shutdown
from .mailbox import MailboxPolicy as MailboxPolicy
from .mailbox import MailboxStatistics as MailboxStatistics
from .mesh import LinkStatistics as LinkStatistics
from .mesh import Mesh as Mesh
from .mesh import MeshStatistics as MeshStatistics
from .message import FrozenDict as FrozenDict
from .metrics import CallHistogram as CallHistogram
from .metrics import MetricsSnapshot as MetricsSnapshot
from .metrics import RuntimeMetrics as RuntimeMetrics
from .message import check_immutable as check_immutable
from .message import freeze as freeze
from .message import message as message
from .message import register_immutable as register_immutable
from .pid import Pid as Pid
from .pid import Ref as Ref
from .placement import Placement as Placement
from .placement import plan_comm_aware as plan_comm_aware
from .placement import traffic_cost as traffic_cost
from .portal import BlockingRuntime as BlockingRuntime
from .process import ProcessHooks as ProcessHooks
from .reports import Logger as Logger
from .runtime import ProcessInfo as ProcessInfo
from .runtime import ProcessStatus as ProcessStatus
from .runtime import Runtime as Runtime
from .runtime import RuntimeStatistics as RuntimeStatistics
from .runtime import Shutdown as Shutdown
from .runtime import TimerRef as TimerRef

__all__ = [
    "Actor", "ActorExited", "BlockingRuntime", "CallHistogram", "CallTimeout", "Caller",
    "CallingSelf", "Continue", "Deadlock", "Delivery", "Dispatched", "Down", "Exit",
    "FrozenDict", "Ignore", "InternalError", "LinkStatistics", "Logger", "MailboxFull",
    "MailboxPolicy", "MailboxStatistics", "Mesh", "MeshStatistics", "MetricsSnapshot",
    "NameTaken", "NoProcess", "NoReply", "Pid", "Placement", "PlacementError", "ProcessHooks",
    "ProcessInfo", "ProcessStatus", "Ref", "RemoteKind", "RemoteRoute", "Runtime",
    "RuntimeClosed", "RuntimeMetrics", "RuntimeStatistics", "Shutdown", "SignalKind",
    "StartFailed", "StartIgnored", "Stop", "TimerRef", "Transport", "Unreachable",
    "VirtualEventLoop", "check_immutable", "check_seconds", "check_shutdown", "format_reason",
    "freeze", "is_normal", "is_shutdown", "message", "plan_comm_aware", "register_immutable",
    "run", "traffic_cost",
]
