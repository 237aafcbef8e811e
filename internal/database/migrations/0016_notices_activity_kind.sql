-- The confirmation sweep looks for pending activities without an
-- escalation notice (NOT EXISTS … notices.activity_id = activities.id AND
-- kind = 'escalate'). On (activity_id) alone the kind is read from the
-- row: MariaDB scanned every notice of a province (325,000 rows) to build
-- its table of escalations each day. On (activity_id, kind) the index
-- covers it (0.18 s → 0.12 s at 50,000 pairs), and the sweep's lookup of
-- its candidates' confirmation notices (activity_id IN (…) AND kind IN
-- (…)) stays a lookup per activity — with kind first, MariaDB scanned
-- both kinds' range instead (10 ms → 100 ms). It replaces the old index:
-- no more writes per notice than before.
DROP INDEX idx_notices_activity {{ON notices}};
CREATE INDEX idx_notices_activity ON notices(activity_id, kind);
