"""Row chunks of ``[N, K, C]`` log-probs: bounded temporaries, unchanged bits.

The checks and the pointwise scores read a ``[N, K, C]`` tensor row by row (every input n
is independent), but a one-shot computation builds intermediates as large as the input
(``exp`` of the log-probs, ``p log p``, the deviations from the mean, ...), so it needs
two to four times the input's memory. These helpers run such a computation on slices
``[a:b]`` of at most :data:`CHUNK_ELEMENTS` elements and write each slice's result into
the output, so the temporaries stay a few MB whatever N.

Chunking keeps every output **bit for bit** (committed study results depend on it). On
the CPU, the float operations of one row do not depend on how many rows are computed
with it: the element-wise functions (``exp``, ``log``, ``sqrt``) give the same bits at
every position of a contiguous tensor, and a reduction over K or C keeps its per-output
order as long as its input has the same layout and the parallel split goes along N,
which holds when each chunk has at least as many rows as there are threads. So chunks are
contiguous slices of a contiguous CPU tensor, each with ``>= torch.get_num_threads()``
rows. Other inputs (non-contiguous views, other devices, where the kernels choose their
strategy from the whole tensor's shape) are computed in one piece, as before.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

#: Most elements of ``[N, K, C]`` in one chunk (2**20: 4 MiB of float32). The
#: temporaries of a chunk are a few tensors of this size; a row larger than this is a
#: chunk of its own.
CHUNK_ELEMENTS = 1 << 20


def row_chunks(log_probs_N_K_C: Tensor) -> list[tuple[int, int]]:
    """Row ranges ``[(a, b), ...]`` covering ``0..N`` in order, each of at most
    :data:`CHUNK_ELEMENTS` elements where rows allow, and of at least
    ``torch.get_num_threads()`` rows (see the module docstring); one range ``(0, N)`` for
    a non-contiguous or non-CPU tensor."""
    N = log_probs_N_K_C.shape[0]
    if N == 0 or log_probs_N_K_C.device.type != "cpu" or not log_probs_N_K_C.is_contiguous():
        return [(0, N)]
    row_elements = max(1, log_probs_N_K_C[0].numel())
    min_rows = max(1, torch.get_num_threads())
    rows = max(CHUNK_ELEMENTS // row_elements, min_rows)
    if rows >= N:
        return [(0, N)]
    starts = list(range(0, N, rows))
    if N - starts[-1] < min_rows:
        starts.pop()  # the short tail joins the chunk before it
    ends = [*starts[1:], N]
    return list(zip(starts, ends, strict=True))


def map_row_chunks(
    fn: Callable[[Tensor], Tensor],
    log_probs_N_K_C: Tensor,
    check_chunk: Callable[[Tensor], None] | None = None,
) -> Tensor:
    """``fn(log_probs_N_K_C)``, computed chunk by chunk over N: ``fn`` maps ``[n, K, C]``
    to ``[n, ...]`` row by row. ``check_chunk`` (if given) runs on each chunk before ``fn``
    does (it raises to stop)."""
    bounds = row_chunks(log_probs_N_K_C)
    if len(bounds) == 1:
        if check_chunk is not None:
            check_chunk(log_probs_N_K_C)
        return fn(log_probs_N_K_C)
    out: Tensor | None = None
    for start, end in bounds:
        chunk = log_probs_N_K_C[start:end]
        if check_chunk is not None:
            check_chunk(chunk)
        result = fn(chunk)
        if out is None:
            N = log_probs_N_K_C.shape[0]
            out = result.new_empty((N, *result.shape[1:]))
        out[start:end] = result
        del result
    assert out is not None
    return out
