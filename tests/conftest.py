"""Shared pytest setup: make tests/ importable (conformance runner)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
