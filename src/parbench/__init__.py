"""parbench: benchmark ways of going parallel in Python, and learn which one wins, by how much, and why."""

__version__ = "0.1.0"
