"""The calling thread's numba thread count, read inside compiled code.

A kernel that sizes its work by the thread count could take it as an argument, but
``numba.get_num_threads()`` from Python costs microseconds a call (it checks that the thread
pool is up, then calls into it through ctypes), a visible share of a small kernel call
(measured in ``docs/kernels-fff.md``, "Checks cost nothing on good calls"). Inside compiled
code numba's own ``get_num_threads`` reads the count through a ctypes pointer, which keeps the
kernel out of numba's on-disk cache. ``thread_count`` instead calls the threading layer's
``get_num_threads`` by its symbol name, as numba's ``prange`` launcher does: no Python, and
the kernel stays cacheable. Like ``numba.get_num_threads``, it honours
``numba.set_num_threads``, which is thread-local.

The symbol exists once numba's thread pool is started. A function loaded from numba's cache
is not compiled again, so the intrinsic also registers ``_start_thread_pool`` to run when
its code is loaded (numba's reload hooks, which is how a cached ``prange`` starts the pool);
without it a cached function that is not itself parallel would call a null address. Code
libraries carry reload hooks from numba 0.63 on, hence the package's minimum numba.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["thread_count"]


def _start_thread_pool() -> None:
    """Start numba's thread pool, which registers the threading layer's symbols."""
    numba.get_num_threads()


@intrinsic
def thread_count(typingctx):  # pragma: no cover - compiled
    """The number of threads a ``prange`` started here would use."""
    _start_thread_pool()

    def codegen(context, builder, signature, args):
        context.active_code_library._reload_init.add(_start_thread_pool)  # for loads from the cache
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(cgutils.intp_t, []), "get_num_threads")
        return builder.call(fn, [])

    return types.intp(), codegen
