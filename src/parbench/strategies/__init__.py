"""Strategies: how work is spread (threads, processes, shared memory, pools, clusters)."""

from parbench.strategies.base import BaseStrategy, Context, PhaseClock, ProcessStrategy, Strategy

__all__ = ["BaseStrategy", "Context", "PhaseClock", "ProcessStrategy", "Strategy"]
