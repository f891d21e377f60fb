"""The pure core of the complaint system: case rules without Temporal, I/O or clocks.

* `cases.models`      - kinds, channels, roles, stages, `ComplaintRegistration`, the decision models
                        (Workflow Update inputs), `SlaClock`, `CaseEvent`, `CaseSummary`.
* `cases.policy`      - SLA limits per case kind as data, with per-jurisdiction overrides.
* `cases.org`         - the organisation tree (county -> city -> province -> national) and lookups.
* `cases.sla`         - deadlines on a working-day calendar, SLA levels, the next threshold instant.
* `cases.transitions` - `register`, `apply` (one decision), `tick`, `recompute_deadlines`, `summarize`.
* `cases.notify`      - who is told what after each event.
* `cases.pii`         - ID/phone validation and masking.
"""
