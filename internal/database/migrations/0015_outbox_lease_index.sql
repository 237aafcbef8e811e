-- One index fewer to write per message (issue 12): a reminder day of a
-- province queues 65,000 messages, and (status, lease_until) cost the
-- database server 0.2 s of CPU of it. Expired leases are found through
-- idx_outbox_due's status prefix instead: the rows being sent at any
-- moment are the deliverers' current batches, a few hundred, sorted by
-- lease_until in memory.
DROP INDEX idx_outbox_lease {{ON outbox_messages}};
