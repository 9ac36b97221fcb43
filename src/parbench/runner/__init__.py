"""From a sweep spec to measured records: plan, cells, probe, sweep."""
