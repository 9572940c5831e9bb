"""Thin async I/O, one module per backend."""
