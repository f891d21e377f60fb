-- 0300: a bureau's own calendar on top of the published national/regional data (docs/spec.md §3.3): days it closes
-- (闭馆: relocation, system cut-over) or opens although they are off (a weekend service day), and the end of its
-- service day when it is not 17:00 (summer hours, Xinjiang's later office hours). Read by the calendar
-- activity whenever a case loads its calendar; `complaints bureau-calendar publish` tells open cases to reload.
-- A row applies to its jurisdiction code and every code below it (CN-SX covers CN-SX-0100); the most specific
-- code wins.

CREATE TABLE IF NOT EXISTS bureau_calendar_days (
    jurisdiction text NOT NULL CHECK (jurisdiction ~ '^CN(-[A-Z0-9]+)*$'),
    day          date NOT NULL,
    working      boolean NOT NULL,  -- false: closed (a closure); true: open on an otherwise off day
    note         text NOT NULL CHECK (btrim(note) <> ''),
    recorded_by  text NOT NULL CHECK (btrim(recorded_by) <> ''),
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (jurisdiction, day)
);

CREATE TABLE IF NOT EXISTS bureau_service_hours (
    jurisdiction text PRIMARY KEY CHECK (jurisdiction ~ '^CN(-[A-Z0-9]+)*$'),
    close_time   time(0) NOT NULL,  -- the end of the service day: deadlines fall at this time
    note         text NOT NULL CHECK (btrim(note) <> ''),
    recorded_by  text NOT NULL CHECK (btrim(recorded_by) <> ''),
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
