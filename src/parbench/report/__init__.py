"""Reports of a run: HTML (figures, verdicts, every cell) and Markdown (tables and verdicts)."""
