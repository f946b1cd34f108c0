"""Reusable test-bench code: drivers, monitors, harness runs, parameter sets and checks.

``tb/test_*.py`` hold tests only and import from here; nothing imports a test module.
"""
