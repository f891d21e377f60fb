"""The worker process (`python -m workers`): one recipe, `workers.main.build_worker`, that registers every workflow
and activity with the sandbox runner, used by the process, the tests and the benchmarks.

May import `workflows`, `activities`, `common` and the core; never `clients`, `dashboard` or `devstack`.
"""
