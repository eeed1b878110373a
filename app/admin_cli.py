"""Admin helpers for the ``onward`` command (create organisation, create client, rotate,
disable). Each prints JSON."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_admin_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    with_db: Callable[..., Any],
) -> None:
    """Filled in by the identity work."""
