-- migrate: no-transaction
-- 0610: dashboard queries at 1,000,000 cases within x5 of `count(*)`, province-wide and for a city's subtree
-- (bench/dashboard_queries.py; the plans are in docs/performance.md). Covering indexes: each period or
-- open-case query reads the index alone (given a visibility map kept current by autovacuum) instead of one
-- heap visit per row, including the columns the scope predicate reads (`handling_unit`, `jurisdiction`).
-- Each replaces an index with the same key and predicate, so no query loses its index. Built CONCURRENTLY:
-- a plain CREATE INDEX would block the projections' writes for as long as the build takes; each DROP first
-- removes an invalid index a failed build may have left, so a re-run builds it again.

-- Overview / units / stage durations: clocks stopped in a period (0200's index lacked `breached`).
DROP INDEX CONCURRENTLY IF EXISTS sla_clocks_stopped_period_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS sla_clocks_stopped_period_idx ON sla_clocks (clock, stopped_at)
    INCLUDE (unit, breached, due_at, started_at, case_no) WHERE stopped_at IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS sla_clocks_stopped_cover_idx;

-- Overview: cases whose feedback went out in a period (rates, scope, and the case number for the review
-- probe below).
DROP INDEX CONCURRENTLY IF EXISTS cases_feedback_period_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS cases_feedback_period_idx ON cases (feedback_sent_at)
    INCLUDE (handling_unit, jurisdiction, satisfaction, case_no) WHERE feedback_sent_at IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS cases_feedback_sent_idx;

-- Overview: "was a review requested" per feedback case, from the index alone (0100's index holds both
-- review kinds, so each probe visited the heap to check the kind).
DROP INDEX CONCURRENTLY IF EXISTS case_events_review_requested_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS case_events_review_requested_idx ON case_events (case_no)
    WHERE kind = 'review_requested';

-- Overview: cases registered in a period, in scope.
DROP INDEX CONCURRENTLY IF EXISTS cases_registered_scope_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS cases_registered_scope_idx ON cases (registered_at)
    INCLUDE (handling_unit, jurisdiction);
DROP INDEX CONCURRENTLY IF EXISTS cases_registered_idx;

-- Overview / units / SLA board: open cases per level (and pending extensions per unit), in scope.
DROP INDEX CONCURRENTLY IF EXISTS cases_open_level_scope_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS cases_open_level_scope_idx ON cases (sla_level, due_at)
    INCLUDE (handling_unit, jurisdiction, extension_status) WHERE open;
DROP INDEX CONCURRENTLY IF EXISTS cases_open_level_idx;
