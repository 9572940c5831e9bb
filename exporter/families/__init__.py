"""Probe families: each wires clients (I/O) to the pure probes and returns its ProbeSpecs."""
