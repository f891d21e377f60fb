-- 0550: the daily and monthly reports (日报 / 月报) with their files, kept in the read model so that a backup and
-- a restore carry them like every other row. One row per report id (kind, bureau, publishing day): a second run
-- of the same day (a caught-up Schedule action, a retried activity) writes nothing.
CREATE TABLE IF NOT EXISTS reports (
    report_id       text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('daily', 'monthly')),
    jurisdiction    text NOT NULL,
    published_on    date NOT NULL,
    period_start    date NOT NULL,
    period_end      date NOT NULL,
    previous_start  date NOT NULL,
    previous_end    date NOT NULL,
    xlsx            bytea NOT NULL,
    chart_png       bytea NOT NULL,
    summary         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (period_start <= period_end AND previous_start <= previous_end)
);
CREATE INDEX IF NOT EXISTS reports_listing_idx ON reports (jurisdiction, published_on DESC, kind);
