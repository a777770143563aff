"""Cache hints for compiled kernels: fetch a row into L2 before it is read, write a row
around the caches.

**Prefetch into L2.** A core keeps only a few misses in flight into L1, so rows read one
after another at random from memory arrive at a fraction of the memory's bandwidth. A prefetch
into L2 (``prefetcht1`` on x86) takes none of L1's miss slots: issued for rows a kernel will
read soon (the next tokens' nodes, the children of the node being evaluated), it keeps more of
memory busy at once; a prefetch into L1 (``prefetcht0``) would take the very slots it was
meant to spare. The figures are in ``docs/kernels-fff.md``, "Prefetch into L2".

**Streaming stores.** A store to a line that is not in cache first reads the line from memory.
An output too big to stay cached from one call to the next (megabytes of rows) is read that
way on every call, only to be overwritten. Non-temporal stores (``movntps``) write whole lines
without reading them. They are weakly ordered, so a kernel ends its streaming with
``store_fence`` before anyone else may read the rows.

Numba's on-disk cache of a kernel keys on the kernel's own file, not on this one: after
editing a hint here, clear the kernels' ``__pycache__`` (or run with an empty
``NUMBA_CACHE_DIR``) to see the change.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch_row", "store_fence", "stream_row"]

#: ``llvm.prefetch`` locality 2: into L2 (``prefetcht1``); reads, data cache.
_READ, _LOCALITY_L2, _DATA = 0, 2, 1
_LINE_BYTES = 64
#: Streaming stores go four floats at a time, to 16-byte aligned addresses.
_LANES = 4


def _is_row(array: types.Type, dtype: types.Type | None = None) -> bool:
    return (isinstance(array, types.Array) and array.ndim == 1 and array.layout == "C"
            and (dtype is None or array.dtype == dtype))


@intrinsic
def prefetch_row(typingctx, row):  # pragma: no cover - compiled
    """Prefetch every cache line of ``row``, a contiguous 1-D array, into L2. A hint only: it
    never faults, changes no value, and a CPU without prefetch ignores it."""
    if not _is_row(row):
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


@intrinsic
def stream_row(typingctx, source, target):  # pragma: no cover - compiled
    """Copy ``source`` into ``target``, contiguous 1-D float32 rows of one length, with
    non-temporal stores from the first 16-byte boundary of ``target`` on (ordinary stores
    before it, after the last full group of four, and for a target not aligned to a float).
    Follow with ``store_fence`` before the rows are read elsewhere."""
    if not (_is_row(source, types.float32) and _is_row(target, types.float32)):
        return None

    def codegen(context, builder, signature, args):
        src = context.make_array(signature.args[0])(context, builder, args[0]).data
        dst = context.make_array(signature.args[1])(context, builder, args[1])
        size = builder.extract_value(dst.shape, 0)
        dst = dst.data
        index = size.type
        lanes = ir.Constant(index, _LANES)
        vector = ir.VectorType(ir.FloatType(), _LANES).as_pointer()

        def copy_scalars(start, stop):
            with cgutils.for_range_slice(builder, start, stop, ir.Constant(index, 1)) as (i, _):
                builder.store(builder.load(builder.gep(src, [i])), builder.gep(dst, [i]))

        address = builder.ptrtoint(dst, index)
        float_aligned = builder.icmp_unsigned("==", builder.and_(address, ir.Constant(index, 3)), ir.Constant(index, 0))
        past_boundary = builder.and_(builder.lshr(address, ir.Constant(index, 2)), ir.Constant(index, _LANES - 1))
        head = builder.and_(builder.sub(lanes, past_boundary), ir.Constant(index, _LANES - 1))
        head = builder.select(float_aligned, head, size)
        head = builder.select(builder.icmp_signed("<", size, head), size, head)
        body_end = builder.add(head, builder.mul(builder.sdiv(builder.sub(size, head), lanes), lanes))
        nontemporal = builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])
        copy_scalars(ir.Constant(index, 0), head)
        with cgutils.for_range_slice(builder, head, body_end, lanes) as (i, _):
            values = builder.load(builder.bitcast(builder.gep(src, [i]), vector), align=4)
            store = builder.store(values, builder.bitcast(builder.gep(dst, [i]), vector), align=4 * _LANES)
            store.set_metadata("nontemporal", nontemporal)
        copy_scalars(body_end, size)
        return context.get_dummy_value()

    return types.void(source, target), codegen


@intrinsic
def store_fence(typingctx):  # pragma: no cover - compiled
    """Order every store before it, streaming ones included, ahead of every memory access
    after it (a sequentially consistent fence: ``mfence`` on x86)."""

    def codegen(context, builder, signature, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen
