"""Serving: a FastAPI app that loads registered models by alias and returns explained predictions."""
