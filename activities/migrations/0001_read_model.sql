-- 0001: the case read model, audit trail, outbox, encrypted personal data and the organisation directory.
-- Temporal stays the source of truth for process state; these tables are written by activities only.

-- Organisation directory: the jurisdiction tree (national -> province -> city -> county) ------------------
-- Seeded from cases/data/org_units.json by activities/seed.py (idempotent, after the migrations).
CREATE TABLE IF NOT EXISTS org_units (
    unit_id       text PRIMARY KEY,
    name          text NOT NULL,
    level         text NOT NULL CHECK (level IN ('county', 'city', 'province', 'national')),
    parent_id     text REFERENCES org_units (unit_id) DEFERRABLE INITIALLY DEFERRED,
    jurisdiction  text NOT NULL,
    supervisor_id text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS org_units_parent_idx ON org_units (parent_id);
CREATE INDEX IF NOT EXISTS org_units_jurisdiction_idx ON org_units (jurisdiction, level);

-- One row per seeded directory (a province): its provincial centre and the data version.
CREATE TABLE IF NOT EXISTS org_directories (
    jurisdiction      text PRIMARY KEY,
    provincial_centre text NOT NULL REFERENCES org_units (unit_id) DEFERRABLE INITIALLY DEFERRED,
    version           text NOT NULL DEFAULT '',
    seeded_at         timestamptz NOT NULL DEFAULT now()
);

-- Dispatch catalogue: category x area (org unit where the matter happened; NULL = anywhere in the
-- jurisdiction) -> default handling unit.
CREATE TABLE IF NOT EXISTS dispatch_catalogue (
    jurisdiction text NOT NULL,
    category     text NOT NULL,
    area_unit_id text REFERENCES org_units (unit_id) DEFERRABLE INITIALLY DEFERRED,
    unit_id      text NOT NULL REFERENCES org_units (unit_id) DEFERRABLE INITIALLY DEFERRED,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dispatch_catalogue_rule_key UNIQUE NULLS NOT DISTINCT (jurisdiction, category, area_unit_id)
);
CREATE INDEX IF NOT EXISTS dispatch_catalogue_area_idx ON dispatch_catalogue (area_unit_id, category);

-- Append-only audit trail -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS case_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_key   text NOT NULL UNIQUE,
    case_no     text NOT NULL,
    seq         integer NOT NULL CHECK (seq >= 1),
    kind        text NOT NULL,
    stage       text NOT NULL,
    at          timestamptz NOT NULL,
    actor_id    text,
    actor_role  text,
    actor_unit  text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS case_events_case_idx ON case_events (case_no, seq);
CREATE INDEX IF NOT EXISTS case_events_kind_at_idx ON case_events (kind, at);
CREATE INDEX IF NOT EXISTS case_events_actor_unit_idx ON case_events (actor_unit, at);

CREATE OR REPLACE FUNCTION case_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS case_events_no_update ON case_events;
CREATE TRIGGER case_events_no_update BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION case_events_refuse_change();
DROP TRIGGER IF EXISTS case_events_no_truncate ON case_events;
CREATE TRIGGER case_events_no_truncate BEFORE TRUNCATE ON case_events
    FOR EACH STATEMENT EXECUTE FUNCTION case_events_refuse_change();

-- Current state of each case (masked personal data only) ----------------------------------------------
CREATE TABLE IF NOT EXISTS cases (
    case_no                    text PRIMARY KEY,
    version                    integer NOT NULL CHECK (version >= 0),
    kind                       text NOT NULL,
    channel                    text NOT NULL,
    category                   text NOT NULL,
    jurisdiction               text NOT NULL,
    handling_unit              text,
    stage                      text NOT NULL,
    open                       boolean NOT NULL DEFAULT true,
    sla_level                  text NOT NULL DEFAULT 'on_track'
                               CHECK (sla_level IN ('on_track', 'blue', 'yellow', 'red')),
    due_at                     timestamptz,
    provisional                boolean NOT NULL DEFAULT false,
    extension_status           text,
    returns                    integer NOT NULL DEFAULT 0,
    rehandlings                integer NOT NULL DEFAULT 0,
    satisfaction               text,
    review_outcome             text,
    close_reason               text,
    registered_at              timestamptz NOT NULL,
    accepted_at                timestamptz,
    investigation_completed_at timestamptz,
    feedback_sent_at           timestamptz,
    closed_at                  timestamptz,
    updated_at                 timestamptz NOT NULL,
    complainant_name           text NOT NULL DEFAULT '',
    complainant_id_number      text NOT NULL DEFAULT '',
    complainant_phone          text NOT NULL DEFAULT '',
    complainant_card_number    text NOT NULL DEFAULT '',
    confidential_reporter      boolean NOT NULL DEFAULT false,
    projected_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cases_open_level_idx ON cases (sla_level, due_at) WHERE open;
CREATE INDEX IF NOT EXISTS cases_open_unit_idx ON cases (handling_unit, sla_level, due_at) WHERE open;
CREATE INDEX IF NOT EXISTS cases_open_stage_idx ON cases (stage, due_at) WHERE open;
CREATE INDEX IF NOT EXISTS cases_jurisdiction_idx ON cases (jurisdiction, registered_at);
CREATE INDEX IF NOT EXISTS cases_channel_registered_idx ON cases (channel, registered_at);
CREATE INDEX IF NOT EXISTS cases_registered_idx ON cases (registered_at);
CREATE INDEX IF NOT EXISTS cases_closed_idx ON cases (closed_at) WHERE closed_at IS NOT NULL;

-- SLA clocks: one row per stage clock per cycle -------------------------------------------------------
CREATE TABLE IF NOT EXISTS sla_clocks (
    case_no         text NOT NULL REFERENCES cases (case_no) ON DELETE CASCADE,
    clock           text NOT NULL,
    cycle           integer NOT NULL DEFAULT 1 CHECK (cycle >= 1),
    unit            text,
    started_at      timestamptz NOT NULL,
    original_due_at timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    extended        boolean NOT NULL DEFAULT false,
    stopped_at      timestamptz,
    level           text NOT NULL DEFAULT 'on_track' CHECK (level IN ('on_track', 'blue', 'yellow', 'red')),
    breached        boolean NOT NULL DEFAULT false,
    provisional     boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_no, clock, cycle)
);
CREATE INDEX IF NOT EXISTS sla_clocks_running_idx ON sla_clocks (level, due_at) WHERE stopped_at IS NULL;
CREATE INDEX IF NOT EXISTS sla_clocks_unit_idx ON sla_clocks (unit, clock, breached);
CREATE INDEX IF NOT EXISTS sla_clocks_clock_started_idx ON sla_clocks (clock, started_at);

-- Notification outbox ---------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS notifications (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key                 text NOT NULL UNIQUE,
    case_no             text NOT NULL,
    audience            text NOT NULL,
    channel             text NOT NULL,
    recipient_ref       text NOT NULL,
    recipient_masked    text,
    recipient_contact   bytea,
    contact_key_id      text,
    template            text NOT NULL,
    params              jsonb NOT NULL DEFAULT '{}'::jsonb,
    requested_at        timestamptz NOT NULL,
    status              text NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'undeliverable')),
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    locked_until        timestamptz,
    last_error          text,
    sent_at             timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((recipient_contact IS NULL) = (contact_key_id IS NULL))
);
CREATE INDEX IF NOT EXISTS notifications_due_idx ON notifications (next_attempt_at)
    WHERE status IN ('queued', 'failed');
CREATE INDEX IF NOT EXISTS notifications_sending_idx ON notifications (locked_until) WHERE status = 'sending';
CREATE INDEX IF NOT EXISTS notifications_case_idx ON notifications (case_no, created_at);

-- Complainant personal data, AES-GCM encrypted with the payload-codec keys (never a confidential reporter)
CREATE TABLE IF NOT EXISTS case_pii (
    case_no    text PRIMARY KEY,
    key_id     text NOT NULL,
    ciphertext bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
