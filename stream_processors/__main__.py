"""``python -m stream_processors``: the worker, as ``kibalock processors`` runs it."""

from stream_processors.cli import processors_command

processors_command()
