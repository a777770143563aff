"""Software prefetch of a weight row into L2, for compiled kernels.

A core keeps only a few misses in flight into L1, so rows read one after another at random
from memory arrive at a fraction of the memory's bandwidth. A prefetch into L2 (``prefetcht1``
on x86) takes none of L1's miss slots: issued for rows a kernel will read soon (the next
tokens' nodes, the children of the node being evaluated), it keeps more of memory busy at
once. Measured on one core of the 2-core box, over random 3 KB rows of a 400 MB array, four
rows at a time: 6.2 GB/s plain, 12.4-12.8 GB/s with the next four rows prefetched into L2,
5.8-6.1 GB/s prefetched into L1 (``prefetcht0``, which takes the slots it was meant to spare);
in a later run, with other tenants' load on the memory, 9.7 plain and 11.4-12.3 into L2.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch_row"]

#: ``llvm.prefetch`` locality 2: into L2 (``prefetcht1``); reads, data cache.
_READ, _LOCALITY_L2, _DATA = 0, 2, 1
_LINE_BYTES = 64


@intrinsic
def prefetch_row(typingctx, row):  # pragma: no cover - compiled
    """Prefetch every cache line of ``row``, a contiguous 1-D array, into L2. A hint only: it
    never faults, changes no value, and a CPU without prefetch ignores it."""
    if not (isinstance(row, types.Array) and row.ndim == 1 and row.layout == "C"):
        return None

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        size = builder.extract_value(array.shape, 0)
        nbytes = builder.mul(size, ir.Constant(size.type, context.get_abi_sizeof(context.get_data_type(row.dtype))))
        byte_ptr = ir.IntType(8).as_pointer()
        base = builder.bitcast(array.data, byte_ptr)
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]), "llvm.prefetch.p0"
        )
        step = ir.Constant(size.type, _LINE_BYTES)
        with cgutils.for_range_slice(builder, ir.Constant(size.type, 0), nbytes, step) as (offset, _):
            flags = [ir.Constant(i32, value) for value in (_READ, _LOCALITY_L2, _DATA)]
            builder.call(fn, [builder.gep(base, [offset]), *flags])
        return context.get_dummy_value()

    return types.void(row), codegen
