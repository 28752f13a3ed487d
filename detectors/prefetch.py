"""A software prefetch for the kernels: ask the CPU to start loading a state row early.

The per-reading path waits on memory: a device's row (five cache lines) is usually not in the
cache when its reading comes, and the reading's work depends on it. Asking for the row of a
reading a few rows ahead overlaps those loads with the work on the current one. A prefetch is
only a hint (no fault, no effect on results), compiled to one `prefetcht0` instruction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _prefetch(typingctx: Any, arr: Any, row: Any, col: Any) -> Any:
    """prefetch(arr, row, col): hint that arr[row, col]'s cache line will be read soon."""
    sig = types.void(arr, row, col)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty, rowty, colty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        inds = [
            context.cast(builder, args[1], rowty, types.intp),
            context.cast(builder, args[2], colty, types.intp),
        ]
        ptr = cgutils.get_item_pointer2(
            context,
            builder,
            data=ary.data,
            shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides),
            layout=aryty.layout,
            inds=inds,
            wraparound=False,
            boundscheck=False,
        )
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read (0), keep in all cache levels (3), data cache (1)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


# Compiled code calls it as prefetch(arr, row, col); the typing context is numba's.
prefetch = cast(Callable[[Any, int, int], None], _prefetch)
