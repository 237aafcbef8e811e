-- The in-app notification list (issue 10): a user's notices are those
-- their messages carry (outbox_messages.recipient_user_id →
-- message_notices → notices), read in one indexed query; the bell counts
-- the notices newer than the last one the user saw.
CREATE INDEX idx_outbox_recipient ON outbox_messages(recipient_user_id, id);
ALTER TABLE users ADD COLUMN notices_seen_id BIGINT NOT NULL DEFAULT 0;
