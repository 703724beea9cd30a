"""KibaLock's stream processors: a faust-streaming app over the login events.

It joins decisions with their ground truth, computes windowed accuracy / FAR / FRR / latency /
quality per model version, per terminal and globally (``metrics``), triggers retraining when
accuracy drops or a user has enough curated samples (``retrain.triggers``), and locks users out
after repeated failures (``security.lockouts``).

It runs as a process: ``kibalock processors`` or ``python -m stream_processors``, configured by
the ``processors`` section of :class:`core.settings.Settings`. Nothing outside the processors
imports its modules: other rooms read its topics. The decision logic lives in plain modules
(``outcomes``, ``sketch``, ``windows``, ``aggregation``, ``join``, ``lockouts``, ``triggers``);
``app`` wires it to faust. Heavy imports (faust) stay out of this package's ``__init__``.
"""
