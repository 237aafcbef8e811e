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

-- Circulars (通报): drafted from the breaches of a period in the issuer's
-- subtree, immutable once published (a correction is a new circular that
-- refers to the old one).
CREATE TABLE circulars (
  id {{ID}},
  -- the issuing bureau's region (NULL: an admin, the whole programme) and
  -- its path, the scope the circular was drafted in
  region_id BIGINT NULL,
  scope_path VARCHAR(255) NOT NULL DEFAULT '',
  issuer VARCHAR(200) NOT NULL DEFAULT '',
  period_key VARCHAR(32) NOT NULL,
  title VARCHAR(200) NOT NULL,
  number VARCHAR(100) NOT NULL DEFAULT '',
  preamble {{LONGTEXT}} NULL,
  requirements {{LONGTEXT}} NULL,
  rectify_by {{DATE}} NULL,
  refers_to BIGINT NULL,
  status VARCHAR(16) NOT NULL,
  created_by BIGINT NULL,
  published_by BIGINT NULL,
  published_on {{DATE}} NULL,
  published_at {{TIME}} NULL,
  created_at {{TIME}} NOT NULL,
  updated_at {{TIME}} NOT NULL,
  CONSTRAINT fk_circulars_region FOREIGN KEY (region_id) REFERENCES regions(id)
) {{OPTS}};
CREATE INDEX idx_circulars_scope ON circulars(scope_path, status);
CREATE INDEX idx_circulars_period ON circulars(period_key);

-- One line per named school and breach, as drafted (the breach's figures
-- and the commitment in words are copied: the document must not change).
CREATE TABLE circular_lines (
  id {{ID}},
  circular_id BIGINT NOT NULL,
  position INT NOT NULL DEFAULT 0,
  school_id BIGINT NOT NULL,
  school_name VARCHAR(200) NOT NULL,
  pair_id BIGINT NOT NULL,
  counterpart VARCHAR(200) NOT NULL DEFAULT '',
  breach_id BIGINT NOT NULL,
  commitment_id BIGINT NOT NULL,
  commitment VARCHAR(500) NOT NULL DEFAULT '',
  period_key VARCHAR(32) NOT NULL,
  period_start {{DATE}} NOT NULL,
  period_end {{DATE}} NOT NULL,
  required DECIMAL(12,2) NOT NULL,
  achieved DECIMAL(12,2) NOT NULL,
  CONSTRAINT fk_circular_lines_circular FOREIGN KEY (circular_id) REFERENCES circulars(id)
) {{OPTS}};
CREATE INDEX idx_circular_lines_circular ON circular_lines(circular_id, position);
CREATE INDEX idx_circular_lines_school ON circular_lines(school_id);

-- Rectification (整改): one per school named in a published circular.
-- awaiting_ack → acknowledged → submitted → accepted | returned → submitted …
CREATE TABLE rectifications (
  id {{ID}},
  circular_id BIGINT NOT NULL,
  school_id BIGINT NOT NULL,
  status VARCHAR(16) NOT NULL,
  due_on {{DATE}} NOT NULL,
  report {{LONGTEXT}} NULL,
  return_reason VARCHAR(1000) NOT NULL DEFAULT '',
  acknowledged_by BIGINT NULL,
  acknowledged_at {{TIME}} NULL,
  submitted_by BIGINT NULL,
  submitted_at {{TIME}} NULL,
  submitted_on {{DATE}} NULL,
  decided_by BIGINT NULL,
  decided_at {{TIME}} NULL,
  created_at {{TIME}} NOT NULL,
  updated_at {{TIME}} NOT NULL,
  CONSTRAINT fk_rectifications_circular FOREIGN KEY (circular_id) REFERENCES circulars(id),
  CONSTRAINT fk_rectifications_school FOREIGN KEY (school_id) REFERENCES schools(id)
) {{OPTS}};
CREATE UNIQUE INDEX ux_rectifications ON rectifications(circular_id, school_id);
CREATE INDEX idx_rectifications_open ON rectifications(status, due_on);
CREATE INDEX idx_rectifications_school ON rectifications(school_id, status);

CREATE TABLE rectification_files (
  id {{ID}},
  rectification_id BIGINT NOT NULL,
  file_name VARCHAR(255) NOT NULL,
  content_type VARCHAR(100) NOT NULL,
  size BIGINT NOT NULL,
  storage_key VARCHAR(255) NOT NULL,
  sha256 CHAR(64) NOT NULL,
  uploaded_by BIGINT NOT NULL,
  created_at {{TIME}} NOT NULL,
  CONSTRAINT fk_rectification_files FOREIGN KEY (rectification_id) REFERENCES rectifications(id)
) {{OPTS}};
CREATE INDEX idx_rectification_files ON rectification_files(rectification_id);

-- Annual assessment settings a bureau sets for its region (the nearest
-- region upwards with settings applies; none: the configured defaults).
CREATE TABLE assessment_settings (
  region_id BIGINT NOT NULL PRIMARY KEY,
  -- {"visit": "2", "lecture": "1", ...}: category weights (default 1)
  weights {{LONGTEXT}} NULL,
  circular_penalty DECIMAL(8,2) NOT NULL,
  overdue_penalty DECIMAL(8,2) NOT NULL,
  -- [{"grade":"优秀","min":"90"}, ...], highest first
  bands {{LONGTEXT}} NULL,
  updated_by BIGINT NULL,
  updated_at {{TIME}} NOT NULL,
  CONSTRAINT fk_assessment_settings_region FOREIGN KEY (region_id) REFERENCES regions(id)
) {{OPTS}};
