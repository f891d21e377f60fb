"""The local development stack, never part of a deployment: `make up` (`devstack.stack`), the embedded PostgreSQL,
the bundled Temporal binaries, the time-shifted test server and the fault-injection scenarios.

May import anything in the project; nothing outside `devstack`, `tests` and `bench` imports it.
"""
