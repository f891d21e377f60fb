-- 0510: the outbox tells a case when a complainant received its result (the review window counts from then).
-- `delivery_reported_at` is set once the case was signalled (or has closed); rows sent before this migration
-- belong to cases that count their window from the sending day, so they count as reported.
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS delivery_reported_at timestamptz;
UPDATE notifications SET delivery_reported_at = sent_at WHERE status = 'sent' AND delivery_reported_at IS NULL;
CREATE INDEX IF NOT EXISTS notifications_unreported_idx ON notifications (sent_at, id)
    WHERE status = 'sent' AND delivery_reported_at IS NULL AND audience = 'complainant';
