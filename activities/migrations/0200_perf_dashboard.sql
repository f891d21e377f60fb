-- 0200: dashboard performance at 1,000,000 cases (bench/dashboard_queries.py, EXPLAIN (ANALYZE, BUFFERS)).
-- Indexes only; the SQL in dashboard/queries.py was restructured at the same time (see docs/performance.md).

-- Clocks stopped in a period (overview / period_metrics, unit_league, stage_durations): a covering index, so
-- the period's ~55k clocks are read index-only (visibility map) instead of one heap fetch per clock.
-- It replaces 0100's sla_clocks_clock_stopped_idx (same key, same predicate).
CREATE INDEX IF NOT EXISTS sla_clocks_stopped_cover_idx ON sla_clocks (clock, stopped_at)
    INCLUDE (unit, due_at, started_at, case_no) WHERE stopped_at IS NOT NULL;
DROP INDEX IF EXISTS sla_clocks_clock_stopped_idx;
