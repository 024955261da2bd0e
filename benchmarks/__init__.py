"""Performance benchmarks: each reports a ratio against a floor measured in the same run."""
