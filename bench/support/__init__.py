"""What the benchmarks and the tests share: built models, a worker process, synthetic traffic."""
