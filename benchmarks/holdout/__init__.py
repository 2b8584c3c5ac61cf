"""Hold-out set of conv2d and corr2d implementations for measuring the gate."""
