"""The families of strategies: a word of the shared vocabulary (DESIGN 2), read by strategies, records and
analysis alike, so it lives below all of them."""

from __future__ import annotations

from typing import Literal

# interpreters: several interpreters in one process, each with its own GIL (PEP 684), threads driving them.
Family = Literal["sequential", "threads", "processes", "distributed", "interpreters"]
