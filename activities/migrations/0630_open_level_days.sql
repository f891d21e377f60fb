-- 0630: the monitor's chart of open cases per level per day keeps the days that have ended
-- (`dashboard.queries.open_by_level_per_day`). A day's counts depend only on rows whose instants fall on or
-- before its end, so once computed they hold until a row with such an instant is written: a late write (a
-- projection retried after an outage, `complaints db rebuild`), a case moving to another unit (the counts are
-- kept per handling unit and jurisdiction, and a case counts for its current unit on every day), a correction.
-- The triggers below note the first day such a write touches in `open_level_days_stale`; the chart discards
-- the stored days from there on before it reads, and computes them again.
--
-- Why a note instead of deleting the stored days in the trigger: the chart may be computing those days from a
-- snapshot taken before the write committed; it would then store them after the delete and they would stay
-- wrong. A note committed with the write is seen by the next reader whatever the order.
--
-- Writes dated today (almost all of them: a decision, a level change as its timer fires, a closing) are not
-- noted: the chart stores a day only once it ended an hour ago (`LEVEL_DAYS_STORED_AFTER`), so only a writer
-- whose transaction ran for over an hour across midnight could be missed.

CREATE TABLE IF NOT EXISTS open_level_days (
    day           date NOT NULL,
    handling_unit text,
    jurisdiction  text NOT NULL,
    sla_level     text NOT NULL CHECK (sla_level IN ('on_track', 'blue', 'yellow', 'red')),
    cases         integer NOT NULL CHECK (cases > 0)
);
CREATE INDEX IF NOT EXISTS open_level_days_day_idx ON open_level_days (day);

-- the days whose counts are in `open_level_days` (a day with no open case anywhere has a row here only)
CREATE TABLE IF NOT EXISTS open_level_days_stored (
    day       date PRIMARY KEY,
    stored_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS open_level_days_stale (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_day  date NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now()
);

-- A change at `changed_at` can alter the count of every day ending at or after it: the level reached at a
-- day's end counts for that day, a clock stopped or a case closed at it still counts.
CREATE OR REPLACE FUNCTION open_level_days_mark(changed_at timestamptz) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO open_level_days_stale (from_day)
    SELECT ((changed_at - interval '1 microsecond') AT TIME ZONE 'Asia/Shanghai')::date
    WHERE ((changed_at - interval '1 microsecond') AT TIME ZONE 'Asia/Shanghai')::date
          < (now() AT TIME ZONE 'Asia/Shanghai')::date
$$;

CREATE OR REPLACE FUNCTION open_level_days_case_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM open_level_days_mark(LEAST(NEW.registered_at, NEW.closed_at));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM open_level_days_mark(LEAST(OLD.registered_at, OLD.closed_at));
    ELSIF OLD.case_no IS DISTINCT FROM NEW.case_no OR OLD.handling_unit IS DISTINCT FROM NEW.handling_unit
          OR OLD.jurisdiction IS DISTINCT FROM NEW.jurisdiction OR OLD.registered_at IS DISTINCT FROM NEW.registered_at
    THEN
        -- the case counts for its unit on every day it was open
        PERFORM open_level_days_mark(LEAST(OLD.registered_at, NEW.registered_at, OLD.closed_at, NEW.closed_at));
    ELSIF OLD.closed_at IS DISTINCT FROM NEW.closed_at THEN
        PERFORM open_level_days_mark(LEAST(OLD.closed_at, NEW.closed_at));
    ELSIF NEW.closed_at IS NULL THEN
        -- `open` changed alone: with no closing instant, open decides whether the case counts at all
        PERFORM open_level_days_mark(NEW.registered_at);
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION open_level_days_clock_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM open_level_days_mark(LEAST(NEW.started_at, NEW.stopped_at));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM open_level_days_mark(LEAST(OLD.started_at, OLD.stopped_at));
    ELSIF (OLD.case_no, OLD.clock, OLD.cycle) IS DISTINCT FROM (NEW.case_no, NEW.clock, NEW.cycle)
          OR OLD.started_at IS DISTINCT FROM NEW.started_at THEN
        PERFORM open_level_days_mark(LEAST(OLD.started_at, NEW.started_at, OLD.stopped_at, NEW.stopped_at));
    ELSE
        PERFORM open_level_days_mark(LEAST(OLD.stopped_at, NEW.stopped_at));
    END IF;
    RETURN NULL;
END;
$$;

-- A level change holds from its instant to the clock's next change; a clock's changes are recorded in the
-- order of their instants, so one recorded late alters nothing before its own instant.
CREATE OR REPLACE FUNCTION open_level_days_level_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM open_level_days_mark(NEW.at);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION open_level_days_all_stale() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO open_level_days_stale (from_day) VALUES ('-infinity');
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS open_level_days_case_written ON cases;
CREATE TRIGGER open_level_days_case_written AFTER INSERT OR DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION open_level_days_case_changed();
DROP TRIGGER IF EXISTS open_level_days_case_updated ON cases;
CREATE TRIGGER open_level_days_case_updated AFTER UPDATE ON cases
    FOR EACH ROW WHEN (OLD.case_no IS DISTINCT FROM NEW.case_no OR OLD.handling_unit IS DISTINCT FROM NEW.handling_unit
                       OR OLD.jurisdiction IS DISTINCT FROM NEW.jurisdiction
                       OR OLD.registered_at IS DISTINCT FROM NEW.registered_at
                       OR OLD.closed_at IS DISTINCT FROM NEW.closed_at OR OLD.open IS DISTINCT FROM NEW.open)
    EXECUTE FUNCTION open_level_days_case_changed();
DROP TRIGGER IF EXISTS open_level_days_cases_truncated ON cases;
CREATE TRIGGER open_level_days_cases_truncated AFTER TRUNCATE ON cases
    FOR EACH STATEMENT EXECUTE FUNCTION open_level_days_all_stale();

DROP TRIGGER IF EXISTS open_level_days_clock_written ON sla_clocks;
CREATE TRIGGER open_level_days_clock_written AFTER INSERT OR DELETE ON sla_clocks
    FOR EACH ROW EXECUTE FUNCTION open_level_days_clock_changed();
DROP TRIGGER IF EXISTS open_level_days_clock_updated ON sla_clocks;
CREATE TRIGGER open_level_days_clock_updated AFTER UPDATE ON sla_clocks
    FOR EACH ROW WHEN ((OLD.case_no, OLD.clock, OLD.cycle) IS DISTINCT FROM (NEW.case_no, NEW.clock, NEW.cycle)
                       OR OLD.started_at IS DISTINCT FROM NEW.started_at
                       OR OLD.stopped_at IS DISTINCT FROM NEW.stopped_at)
    EXECUTE FUNCTION open_level_days_clock_changed();
DROP TRIGGER IF EXISTS open_level_days_clocks_truncated ON sla_clocks;
CREATE TRIGGER open_level_days_clocks_truncated AFTER TRUNCATE ON sla_clocks
    FOR EACH STATEMENT EXECUTE FUNCTION open_level_days_all_stale();

DROP TRIGGER IF EXISTS open_level_days_level_recorded ON case_events;
CREATE TRIGGER open_level_days_level_recorded AFTER INSERT ON case_events
    FOR EACH ROW WHEN (NEW.kind = 'sla_level_changed')
    EXECUTE FUNCTION open_level_days_level_changed();
