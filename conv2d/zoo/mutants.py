"""Every conv2d mutant of the zoo, under one name: ``conv2d.zoo.mutants:<name>`` loads any of them.

The bugs live in the family modules, each with its own ``WITNESSES``:

* ``conv2d.zoo.geometry`` — output size, padding, per-axis stride, padding and dilation;
* ``conv2d.zoo.channels`` — grouped and depthwise indexing, the bias per channel;
* ``conv2d.zoo.contract`` — the batch dimension, empty batches, input checks, the calling convention;
* ``conv2d.zoo.kernels`` — tile remainders, size thresholds, fast paths, special-shape kernels;
* ``conv2d.zoo.layout`` — strides, storage offsets, channels_last, non-contiguous weights;
* ``conv2d.zoo.precision`` — lower precision, TF32, half accumulators, dtypes, special values;
* ``conv2d.zoo.backward`` — gradients and autograd paths;
* ``conv2d.zoo.runtime`` — nondeterminism, input mutation, buffer reuse, threads, global state.

Every mutant uses the zoo's correct im2col convolution as its kernel (never the
host's ``F.conv2d``, whose own bugs would otherwise count as kills) and is correct
everywhere except in its trigger region, where it behaves the way the real bug does.
:data:`WITNESSES` maps each name to a small, deterministic input on which the bug shows.
"""

from __future__ import annotations

from conv2d.zoo import backward, channels, contract, geometry, kernels, layout, precision, runtime
from conv2d.zoo._common import Witness
from conv2d.zoo.backward import (
    bias_grad_missing_grouped,
    detached_double_backward,
    frozen_weight_loses_input_grad,
    grad_bias_batch_mean,
    grad_input_ignores_dilation,
    grad_input_ignores_stride,
    grad_weight_groups_first_input,
)
from conv2d.zoo.channels import (
    bias_first_group_reused,
    bias_ignored_above_64,
    bias_twice_split_k,
    bias_wrong_axis_channels_last,
    depthwise_multiplier_interleaved,
    group_input_offset_not_advanced,
    group_weight_slice,
)
from conv2d.zoo.contract import (
    batch_chunks_drop_remainder,
    batch_chunks_misaligned_remainder,
    batch_tile16_remainder,
    empty_batch_raises,
    keywords_drop_positional,
    no_channel_check,
    padding_before_stride,
    squeeze_all_unit_dims,
    stride_two_by_default,
    strided_same_accepted,
    unbatched_keeps_batch_dim,
    unbatched_read_as_hwc,
)
from conv2d.zoo.geometry import (
    ceil_output_size,
    dilation_h_for_w,
    dilation_ignored_in_output_size,
    off_by_one_strided_output,
    pad_pair_as_fpad_tuple,
    padding_swapped,
    same_all_padding_after,
    same_even_kernel_wrong_side,
    same_ignores_dilation,
    stride_h_for_w,
    stride_swapped,
)
from conv2d.zoo.kernels import (
    bfloat16_strided_width_one,
    channel_tail_c16,
    fast_path_3x3_in_bfloat16,
    index_wrap_16bit,
    pointwise_ignores_padding,
    pointwise_ignores_stride,
    tail_drop_w8,
    tiled_missing_halo,
    whole_input_kernel_drops_bias,
)
from conv2d.zoo.layout import (
    channels_last_read_as_nchw,
    storage_offset_ignored,
    strided_view_as_contiguous,
    weight_assumed_contiguous,
)
from conv2d.zoo.precision import (
    bfloat16_accumulate_per_channel,
    float16_accumulate_per_tap,
    float16_saturates,
    float32_via_bfloat16,
    float64_via_float32,
    half_returns_float32,
    skips_zero_weights,
    tf32_float32,
)
from conv2d.zoo.runtime import (
    cached_output_buffer,
    identity_kernel_returns_input,
    input_scaled_in_place,
    leaves_deterministic_mode_on,
    nondeterministic_channel_chunks,
    resets_default_dtype,
    shared_workspace,
    weight_flipped_in_place,
)

__all__ = [
    "FAMILIES",
    "WITNESSES",
    "batch_chunks_drop_remainder",
    "batch_chunks_misaligned_remainder",
    "batch_tile16_remainder",
    "bfloat16_accumulate_per_channel",
    "bfloat16_strided_width_one",
    "bias_first_group_reused",
    "bias_grad_missing_grouped",
    "bias_ignored_above_64",
    "bias_twice_split_k",
    "bias_wrong_axis_channels_last",
    "cached_output_buffer",
    "ceil_output_size",
    "channel_tail_c16",
    "channels_last_read_as_nchw",
    "depthwise_multiplier_interleaved",
    "detached_double_backward",
    "dilation_h_for_w",
    "dilation_ignored_in_output_size",
    "empty_batch_raises",
    "fast_path_3x3_in_bfloat16",
    "float16_accumulate_per_tap",
    "float16_saturates",
    "float32_via_bfloat16",
    "float64_via_float32",
    "frozen_weight_loses_input_grad",
    "grad_bias_batch_mean",
    "grad_input_ignores_dilation",
    "grad_input_ignores_stride",
    "grad_weight_groups_first_input",
    "group_input_offset_not_advanced",
    "group_weight_slice",
    "half_returns_float32",
    "identity_kernel_returns_input",
    "index_wrap_16bit",
    "input_scaled_in_place",
    "keywords_drop_positional",
    "leaves_deterministic_mode_on",
    "no_channel_check",
    "nondeterministic_channel_chunks",
    "off_by_one_strided_output",
    "pad_pair_as_fpad_tuple",
    "padding_before_stride",
    "padding_swapped",
    "pointwise_ignores_padding",
    "pointwise_ignores_stride",
    "resets_default_dtype",
    "same_all_padding_after",
    "same_even_kernel_wrong_side",
    "same_ignores_dilation",
    "shared_workspace",
    "skips_zero_weights",
    "squeeze_all_unit_dims",
    "storage_offset_ignored",
    "stride_h_for_w",
    "stride_swapped",
    "stride_two_by_default",
    "strided_same_accepted",
    "strided_view_as_contiguous",
    "tail_drop_w8",
    "tf32_float32",
    "tiled_missing_halo",
    "unbatched_keeps_batch_dim",
    "unbatched_read_as_hwc",
    "weight_assumed_contiguous",
    "weight_flipped_in_place",
    "whole_input_kernel_drops_bias",
]

#: The family modules, in the zoo's order.
FAMILIES = (geometry, channels, contract, kernels, layout, precision, backward, runtime)
#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
WITNESSES: dict[str, Witness] = {name: w for family in FAMILIES for name, w in family.WITNESSES.items()}
