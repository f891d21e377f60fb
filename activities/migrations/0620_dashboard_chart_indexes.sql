-- migrate: no-transaction
-- 0620: the monitor's chart of open cases per level per day (`open_by_level_per_day`) at 1,000,000 cases within
-- x5 of `count(*)` (bench/dashboard_queries.py; docs/performance.md). The chart's candidates (cases open now,
-- cases closed since the period began) and their level changes are read from indexes alone instead of one heap
-- visit per row. Built CONCURRENTLY so the projections' writes are not blocked; each DROP first removes an
-- invalid index a failed build may have left, so a re-run builds it again.

-- Cases open now, with what the chart and the scope predicate read.
DROP INDEX CONCURRENTLY IF EXISTS cases_open_span_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS cases_open_span_idx ON cases (registered_at)
    INCLUDE (case_no, closed_at, handling_unit, jurisdiction) WHERE open;

-- Cases closed since an instant: replaces 0001's cases_closed_idx (same key, same predicate).
DROP INDEX CONCURRENTLY IF EXISTS cases_closed_span_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS cases_closed_span_idx ON cases (closed_at)
    INCLUDE (open, case_no, registered_at, handling_unit, jurisdiction) WHERE closed_at IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS cases_closed_idx;

-- Each case's level changes in order (a small share of the audit trail).
DROP INDEX CONCURRENTLY IF EXISTS case_events_level_changes_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS case_events_level_changes_idx ON case_events (case_no, seq)
    INCLUDE (at, details) WHERE kind = 'sla_level_changed';
