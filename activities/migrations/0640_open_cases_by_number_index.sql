-- migrate: no-transaction
-- 0640: the chart of open cases per level per day computes today (and any day not yet stored, see 0630) from
-- the open cases in case-number order, merged with their level changes; read from this index they need no
-- sort. Replaces 0620's index of the same columns keyed by registration. Built CONCURRENTLY so the
-- projections' writes are not blocked; each DROP first removes an invalid index a failed build may have left.

DROP INDEX CONCURRENTLY IF EXISTS cases_open_by_number_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS cases_open_by_number_idx ON cases (case_no)
    INCLUDE (registered_at, closed_at, handling_unit, jurisdiction) WHERE open;
DROP INDEX CONCURRENTLY IF EXISTS cases_open_span_idx;
