"""HDL parameters as the bench sees them.

``tb.runner.run_sim`` passes every HDL parameter it builds with (``-G<Name>=<value>``) to the
simulation as the environment variable ``PARAM_<Name>``, once; a bench reads it here instead
of inventing its own variable for the same value.
"""
from __future__ import annotations

import os

_MISSING = object()


def hdl_param(name: str, default=_MISSING) -> int | str:
    """The value of HDL parameter ``name`` (``Lanes``, ``Depth``, ...) of the DUT being simulated.

    Returns:
        an ``int`` for a numeric parameter, else the string (quotes of string parameters removed).

    Raises:
        KeyError: the build did not set ``name`` and no ``default`` was given.
    """
    raw = os.environ.get(f"PARAM_{name}")
    if raw is None:
        if default is _MISSING:
            raise KeyError(f"HDL parameter {name} was not passed to this simulation (PARAM_{name} unset)")
        return default
    try:
        return int(raw, 0)
    except ValueError:
        return raw.strip('"')
