"""The serving shell around the library: the HTTP API under /v1, intake and micro-batching, the store, API keys
and roles, the team leads' review pages, logs, and the `serve`, `keys` and `feedback` commands.

Needs the `serve` extra (`pip install 'complaint-triage[serve]'`). The app factory is `serving.app.create_app`.
"""
