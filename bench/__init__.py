"""Performance harness: ``kibalock bench`` runs the benchmarks registered in ``bench.cli`` and
writes one machine-readable JSON file per benchmark."""
