"""The HTTP adapter: FastAPI application, middleware, problem details, shared dependencies."""
