"""The officers' and administrators' console: server-rendered pages over the node's services.

The console is another client of the same services the JSON API calls, with the same
principal, the same policy decisions and the same audit events; it never reads record
tables itself. See docs/console.md.
"""
