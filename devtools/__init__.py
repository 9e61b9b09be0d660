"""Development tools: the local launcher (`./dev up`, the end-to-end tests, the benchmarks) and the edge
with the demo site mounted. Imported by nothing in production code."""
