"""Processes, mailboxes, immutable messages, links, monitors, registry and the Runtime.

This is everything the layers above may use: ``neural_actors.supervisors`` is built only on
what is exported here.
"""

from .actor import Actor as Actor
from .actor import Caller as Caller
from .actor import Continue as Continue
from .actor import NoReply as NoReply
from .actor import Stop as Stop
from .clock import VirtualEventLoop as VirtualEventLoop
from .clock import run as run
from .errors import ActorExited as ActorExited
from .errors import CallingSelf as CallingSelf
from .errors import CallTimeout as CallTimeout
from .errors import InternalError as InternalError
from .errors import MailboxFull as MailboxFull
from .errors import NameTaken as NameTaken
from .errors import NoProcess as NoProcess
from .errors import RuntimeClosed as RuntimeClosed
from .errors import StartFailed as StartFailed
from .errors import format_reason as format_reason
from .links import Down as Down
from .links import Exit as Exit
from .links import is_normal as is_normal
from .links import is_shutdown as is_shutdown
from .mailbox import MailboxPolicy as MailboxPolicy
from .mailbox import MailboxStatistics as MailboxStatistics
from .message import FrozenDict as FrozenDict
from .message import check_immutable as check_immutable
from .message import freeze as freeze
from .message import message as message
from .message import register_immutable as register_immutable
from .pid import Pid as Pid
from .pid import Ref as Ref
from .runtime import BlockingRuntime as BlockingRuntime
from .runtime import ProcessInfo as ProcessInfo
from .runtime import Runtime as Runtime
from .runtime import RuntimeStatistics as RuntimeStatistics
from .runtime import TimerRef as TimerRef

__all__ = [
    "Actor", "ActorExited", "BlockingRuntime", "CallTimeout", "Caller", "CallingSelf", "Continue",
    "Down", "Exit", "FrozenDict", "InternalError", "MailboxFull", "MailboxPolicy",
    "MailboxStatistics", "NameTaken", "NoProcess", "NoReply", "Pid", "ProcessInfo", "Ref",
    "Runtime", "RuntimeClosed", "RuntimeStatistics", "StartFailed", "Stop", "TimerRef",
    "VirtualEventLoop", "check_immutable", "format_reason", "freeze", "is_normal", "is_shutdown",
    "message", "register_immutable", "run",
]
