"""Pure policy functions: (cluster view, settings) -> decisions, each with its reasons.

Nothing here does I/O (enforced by .importlinter); the reconciler and the benchmark
harness call the same code.
"""
