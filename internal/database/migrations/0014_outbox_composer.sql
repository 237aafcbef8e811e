-- Messages composed at delivery (issue 12): a sweep's reminders, breach
-- notices and confirmation reminders are stored with their subject, their
-- recipient and their notices (message_notices) but without bodies; the
-- deliverer has the composer named here render them when it claims them.
-- A reminder day's thousands of messages then cost the sweep a small row
-- each instead of two rendered bodies. '' for messages stored composed.
ALTER TABLE outbox_messages ADD COLUMN composer VARCHAR(32) NOT NULL DEFAULT '';
-- No query selects messages by pair (the notices do): one index less to
-- write for each of a reminder day's tens of thousands of messages.
DROP INDEX idx_outbox_pair {{ON outbox_messages}};
