"""The numba anomaly core: per-device state in arrays, kernels over columnar readings."""
