"""Validation of user settings shared by the command-line tools and the test benches.

A bad setting (an environment variable such as ``IMAGES``/``OFFSET``, or a command-line
argument) becomes a :class:`SettingError` whose message is one line naming the setting and
the problem; the command-line tools print it as ``error: <message>`` on stderr and exit 2
(:class:`ArgumentParser`, :func:`print_error`). This module imports no torch: it is cheap enough to
run before anything else.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

TEST_IMAGES = 10_000  # Fashion-MNIST test split
TRAIN_IMAGES = 60_000  # Fashion-MNIST train split

# the committed model (``make model`` rewrites them)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHECKPOINT = ARTIFACTS / "fashion_lenet.pt"       # float FashionLeNet state_dict (model.train)
EXPORT_DIR = ARTIFACTS / "export"                 # parameter files + quantized model (model.quantize)


class SettingError(ValueError):
    """A setting (environment variable or argument) that is malformed or out of range."""


def one_line(text: object) -> str:
    """The first non-empty line of ``str(text)`` (library exceptions often span many lines)."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return str(text).strip()


def env_int(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    """Integer setting ``name`` from the environment (``default`` when unset or empty).

    Raises:
        SettingError: the value is not an integer (``IMAGES='ten' is not an integer``).
    """
    env = os.environ if env is None else env
    value = env.get(name, "")
    if value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise SettingError(f"{name}={value!r} is not an integer") from None


def check_image_range(offset: int, count: int, label: str | None = None,
                      total: int = TEST_IMAGES, split: str = "test") -> None:
    """Check that images ``offset .. offset + count - 1`` exist in a split of ``total`` images.

    Args:
        label: how the user gave the range, the start of the message (default
            ``OFFSET=<offset> IMAGES=<count>``).

    Raises:
        SettingError: e.g. ``OFFSET=9990 IMAGES=20: images 9990..10009 are outside the test
            set (0..9999)``.
    """
    label = label or f"OFFSET={offset} IMAGES={count}"
    if count < 1:
        raise SettingError(f"{label}: at least 1 image needed")
    if offset < 0 or offset + count > total:
        raise SettingError(f"{label}: images {offset}..{offset + count - 1} are outside "
                           f"the {split} set (0..{total - 1})")


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line, ``error: <message>`` on stderr,
    exit status 2 (argparse's own prints the usage first)."""

    def error(self, message: str):
        print_error(f"{self.prog}: {message}")
        raise SystemExit(2)


def print_error(message: object) -> None:
    """Print ``error: <first line of message>`` to stderr."""
    print(f"error: {one_line(message)}", file=sys.stderr, flush=True)
