"""An example parbench plugin: the `primes` workload and the `imap-unordered` strategy (see docs/plugins.md).

parbench finds them through the entry points in pyproject.toml; nothing here registers anything by hand.
"""
