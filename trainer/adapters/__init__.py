"""Embedder adapters: a closed-form compensation stage, a residual head, their ONNX export."""
