"""The calling thread's numba thread count, read inside compiled code.

A kernel that sizes its work by the thread count could take it as an argument, but
``numba.get_num_threads()`` from Python costs 1-2 us a call (it checks that the thread pool is
up, then calls into it through ctypes), 5-9% of a call at 8 to 128 tokens. Inside compiled
code numba's own ``get_num_threads`` reads the count through a ctypes pointer, which keeps the
kernel out of numba's on-disk cache. ``thread_count`` instead calls the threading layer's
``get_num_threads`` by its symbol name, as numba's ``prange`` launcher does: no Python, and
the kernel stays cacheable. Like ``numba.get_num_threads``, it honours
``numba.set_num_threads``, which is thread-local.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["thread_count"]


@intrinsic
def thread_count(typingctx):  # pragma: no cover - compiled
    """The number of threads a ``prange`` started here would use."""
    numba.get_num_threads()  # starts the thread pool, which registers the symbol

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(cgutils.intp_t, []), "get_num_threads")
        return builder.call(fn, [])

    return types.intp(), codegen
