-- The bureau's instruments (issue 11): group robots and their outbox,
-- circulars with their lines, rectifications and their files, and the
-- assessment settings of a region.

-- DingTalk / WeCom group robots of a region. window_start/window_count
-- pace each robot (a vendor allows about 20 posts a minute) across every
-- deliverer on every replica: a slot is taken with a conditional UPDATE.
CREATE TABLE channel_robots (
  id {{ID}},
  region_id BIGINT NOT NULL,
  kind VARCHAR(16) NOT NULL,
  name VARCHAR(100) NOT NULL DEFAULT '',
  webhook VARCHAR(1000) NOT NULL,
  secret VARCHAR(255) NOT NULL DEFAULT '',
  -- unix milliseconds of the current rate window and the posts made in it
  window_start BIGINT NOT NULL DEFAULT 0,
  window_count INT NOT NULL DEFAULT 0,
  created_by BIGINT NULL,
  created_at {{TIME}} NOT NULL,
  updated_at {{TIME}} NOT NULL,
  CONSTRAINT fk_channel_robots_region FOREIGN KEY (region_id) REFERENCES regions(id)
) {{OPTS}};
CREATE INDEX idx_channel_robots_region ON channel_robots(region_id);

-- One post per robot and notice batch; the same lease protocol as
-- outbox_messages (queued → sending → sent | queued again | failed).
CREATE TABLE channel_messages (
  id {{ID}},
  robot_id BIGINT NOT NULL,
  kind VARCHAR(16) NOT NULL,
  title VARCHAR(200) NOT NULL,
  body {{LONGTEXT}} NOT NULL,
  status VARCHAR(16) NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  max_attempts INT NOT NULL DEFAULT 8,
  next_attempt_at BIGINT NOT NULL DEFAULT 0,
  lease_until BIGINT NOT NULL DEFAULT 0,
  lease_token VARCHAR(64) NOT NULL DEFAULT '',
  last_error VARCHAR(2000) NOT NULL DEFAULT '',
  reply VARCHAR(500) NOT NULL DEFAULT '',
  sent_at {{TIME}} NULL,
  created_at {{TIME}} NOT NULL,
  updated_at {{TIME}} NOT NULL
) {{OPTS}};
CREATE INDEX idx_channel_messages_due ON channel_messages(status, next_attempt_at);
CREATE INDEX idx_channel_messages_lease ON channel_messages(status, lease_until);
CREATE INDEX idx_channel_messages_robot ON channel_messages(robot_id, status);
