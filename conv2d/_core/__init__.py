"""The machinery of the core ``conv2d`` (its public API is :mod:`conv2d.functional`).

* :mod:`~conv2d._core.tuning`: the thresholds of the strategy choice and the block sizes.
* :mod:`~conv2d._core.geometry`: one call's shapes, the grid layout of its padded input and
  the arrangements of the input in it.
* :mod:`~conv2d._core.autograd`: the strategy interface and the autograd functions that make
  every strategy differentiable to any order.
* :mod:`~conv2d._core.plane_matmul`, :mod:`~conv2d._core.multiply_add`,
  :mod:`~conv2d._core.same_size`, :mod:`~conv2d._core.shifted_matmul`: the strategies.
* :mod:`~conv2d._core.dispatch`: the choice of strategy for a validated 4-D call, and the
  pointwise (1x1) path.
"""
