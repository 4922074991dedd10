"""The names of the former flat check module; the code lives in :mod:`dialogkit.templates.check`."""

from __future__ import annotations

from dialogkit.templates.check import CheckReport, Finding, check_conversation, check_template

__all__ = ["CheckReport", "Finding", "check_conversation", "check_template"]
