"""Runs and measures student code: the harness, the probe, the stubs, the guards, the loader and the worker."""
