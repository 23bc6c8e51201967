"""Benchmarks of winback against the reference implementation (``lifetimes``).

Run with ``python -m benchmarks.run [--size small|full]`` (``make bench``). Every measured
step runs in its own subprocess so that its peak memory is its own; see :mod:`benchmarks.run`.
"""
