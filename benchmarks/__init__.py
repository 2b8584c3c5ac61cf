"""Benchmarks: speed of the core, power of the gate, and the anchor it is compared with."""
