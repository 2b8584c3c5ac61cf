"""Example kernels verified with the gate, end to end."""
