"""Benchmarks, load generators and naive baselines: `make bench` and `make bench-*`. No product
module imports this package."""
