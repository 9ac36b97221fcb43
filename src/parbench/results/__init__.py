"""Records, their storage and the environment they were measured in."""
