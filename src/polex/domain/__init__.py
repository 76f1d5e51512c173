"""The common schema (``polex.schema/v1``) and the pure rules around it.

Nothing here imports a framework or an adapter; storage, HTTP and formats depend on it.
"""
