"""Rerank server for KServe: FastAPI API, dynamic batching, torch and vLLM engines."""

__version__ = "0.1.0"
