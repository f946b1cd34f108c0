"""The tools behind the make targets (sim, regression reports, coverage, mutation, synthesis, bench).

Run as ``python scripts/<tool>.py`` with the repository on ``PYTHONPATH`` (the Makefile sets it);
they import ``tb`` and ``model``, never the other way round.
"""
