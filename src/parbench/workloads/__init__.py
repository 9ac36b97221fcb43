"""Workloads: what is computed, split into tasks, with an exact expected answer."""

from parbench.workloads.base import BaseWorkload, Task, Workload, split_range

__all__ = ["BaseWorkload", "Task", "Workload", "split_range"]
