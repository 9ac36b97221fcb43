"""Statistics and scaling of measured runs."""

# The regression gate's defaults (parbench.analysis.compare), here so that the CLI can show them in its help
# without loading numpy, pandas and scipy to build its parser.
DEFAULT_FACTOR = 1.10
DEFAULT_ALPHA = 0.01
