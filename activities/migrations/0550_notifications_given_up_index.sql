-- migrate: no-transaction
-- 0550: the dashboard's list of notifications that will not be delivered without a person (attempts exhausted,
-- refused for good, or no contact to send to). Built CONCURRENTLY: a plain CREATE INDEX would block every
-- write to `notifications` (the outbox sender, every decision's activity) for as long as the build takes.

-- a build that failed part-way leaves an invalid index of this name: drop it so the re-run builds it again
DROP INDEX CONCURRENTLY IF EXISTS notifications_given_up_idx;

CREATE INDEX CONCURRENTLY IF NOT EXISTS notifications_given_up_idx
    ON notifications (created_at DESC) WHERE status IN ('failed', 'undeliverable');
