"""What people and intake systems use to talk to the system: the `CaseClient` facade, the `complaints` CLI, the
demo generator, the published JSON Schemas and the codec server for the Web UI.

May import the core (`cases`, `calendars`), `common`, `workflows` (typed handles), `activities` for the bureau
calendar's rows and the monitor's query layer (`dashboard.queries`, `reports`, `exports`) for `complaints report`;
never `workers`, the monitor's pages or `devstack`.
"""
