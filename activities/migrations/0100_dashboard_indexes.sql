-- 0100: indexes for the supervisor dashboard (dashboard/queries.py). Read-only helpers: indexes only.

-- Overview: open cases due today / tomorrow (range on due_at over open cases).
CREATE INDEX IF NOT EXISTS cases_open_due_idx ON cases (due_at) WHERE open;
-- Overview: return-visit coverage, satisfaction and review rates over cases whose feedback went out in a period.
CREATE INDEX IF NOT EXISTS cases_feedback_sent_idx ON cases (feedback_sent_at, handling_unit)
    WHERE feedback_sent_at IS NOT NULL;
-- Overview / units: on-time acceptance and completion over clocks stopped in a period.
CREATE INDEX IF NOT EXISTS sla_clocks_clock_stopped_idx ON sla_clocks (clock, stopped_at)
    WHERE stopped_at IS NOT NULL;
-- Units: breaches per week (breached clocks by due instant).
CREATE INDEX IF NOT EXISTS sla_clocks_breached_due_idx ON sla_clocks (due_at, unit) WHERE breached;
-- SLA board / units: pending extension requests.
CREATE INDEX IF NOT EXISTS cases_open_extension_idx ON cases (extension_status, handling_unit)
    WHERE open AND extension_status IS NOT NULL;
-- Overview: review requests / decisions in a period per case (case_events (kind, at) exists already).
CREATE INDEX IF NOT EXISTS case_events_review_case_idx ON case_events (case_no)
    WHERE kind IN ('review_requested', 'review_decided');
