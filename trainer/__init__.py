"""LifeModo: the half of the product that learns.

Retrain triggers (``retrain.triggers``) and operator requests become jobs (``jobs.py``); a job
takes a snapshot of the curated data (``dataset.py``), trains a new version of one model of the
catalog, exports it to ONNX with a parity check, compares it with the active version on the same
held-back data (``champion.py``) and publishes it through ``core.registry.publish`` when it is
better. Gateways then activate it through the registry's canary / re-embed / swap protocol.
"""
