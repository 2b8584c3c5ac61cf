"""Tuning constants of the core: the thresholds of the strategy choice and the block sizes.

Every module of the core reads them as ``tuning.NAME`` when it runs, so that a test or a
benchmark can patch them here (``mock.patch.multiple(tuning, ...)``) to force a strategy
or a block size on small shapes.
"""

from __future__ import annotations

__all__ = [
    "BLOCK_BYTES",
    "CHUNK_BYTES",
    "DOT_BLOCK_ELEMS",
    "DOT_IMAGES",
    "IM2COL_WASTE_NUMERATOR",
    "MAX_ELEMENTWISE_MULTIPLIER",
    "MIN_BLOCK_ROWS",
    "MIN_TAP_CHANNELS",
    "SAME_BLOCK_ELEMS",
    "SAME_SIZE_SHIFTS",
]


MAX_ELEMENTWISE_MULTIPLIER = 4
"""Largest out_channels/groups handled by the elementwise (shifted multiply-add) strategies."""
SAME_SIZE_SHIFTS = False
"""Whether same-size single-input-channel convolutions use the same-size shifts strategy instead of
shifted multiply-adds on zero-padded frames. Off: with freed memory reused (a caching allocator), frames
were faster on the benchmark's depthwise 3x3 layer (AMD EPYC, 2 threads: 2.57x / 2.21x of F.conv2d
forward / forward+backward against 3.73x / 3.70x; ``benchmarks/speed.py --strategies``); the strategy
saves the padded copy's page faults where every large block is fresh memory. Tests switch it on."""
DOT_IMAGES = 8
"""Images per batched product in the same-size weight gradient (each product also forms this many wasted cross terms)."""
SAME_BLOCK_ELEMS = 1 << 17
"""Values per block of planes and per CPU thread in the same-size shifts strategy (each thread's share of
a block's copies then stays in its core's L2 cache)."""
DOT_BLOCK_ELEMS = 1 << 18
"""Values per block of planes for the same-size weight gradient on CPU, whatever the thread count (a few
images per block, so that each tap is one batched product rather than per-channel dot products)."""
MIN_TAP_CHANNELS = 8
"""Fewest input channels per group for the channels-last strategies; thinner layers use plane im2col."""
BLOCK_BYTES = 1 << 20
"""Output bytes per row block of the single-threaded shifted matmul on CPU (about a core's L2 cache)."""
MIN_BLOCK_ROWS = 1024
"""Fewest rows per block, so each matrix product stays large enough to run at full speed."""
CHUNK_BYTES = 8 << 20
"""Largest input arrangement built at once on CPU, in bytes."""
IM2COL_WASTE_NUMERATOR = 64.0
"""im2col replaces per-tap products when the shifted grid's extra rows cost more
than the gathered copy, i.e. when ``grid_rows / output_rows - 1 > this / out_channels_per_group``."""
