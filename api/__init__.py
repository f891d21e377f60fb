"""The HTTP API (`/v1`): one authenticated door for caseworkers and intake systems that do not speak Temporal.

`python -m api` serves it with uvicorn (127.0.0.1:8000 in the embedded mode); `api.app.create_app` builds it.
"""
