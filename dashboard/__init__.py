"""The supervisors' Streamlit monitor: SLA board, overdue by unit and stage, metrics, the calendar page; reads the
PostgreSQL read model and sends the one decision supervisors take there (extensions) through `clients`.

May import the core, `common`, `clients` and `activities` (the read model's SQL helpers); never `workflows`
directly or `workers`.
"""
