"""Serve a trained pipeline over HTTP: the /v1 API with dynamic batching, a
page at /, and Ray Serve to scale out. Needs the `serve` extra (FastAPI,
uvicorn); Ray Serve the `ray` extra."""
