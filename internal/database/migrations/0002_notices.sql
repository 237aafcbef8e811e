-- Scheduled sweeps: notices (one row per dedupe key, ever), the outbox of
-- messages that carry them, breaches, job claims, and the compliance totals
-- read model that sweeps and dashboards read instead of the activity history.

CREATE TABLE notices (
  id {{ID}},
  kind VARCHAR(16) NOT NULL,
  dedupe_key VARCHAR(191) NOT NULL,
  pair_id BIGINT NULL,
  commitment_id BIGINT NULL,
  activity_id BIGINT NULL,
  user_id BIGINT NULL,
  period_key VARCHAR(32) NOT NULL DEFAULT '',
  as_of {{DATE}} NOT NULL,
  details {{LONGTEXT}} NULL,
  -- the sweep that inserted the row: inserts skip existing dedupe keys,
  -- and the sweep then reads back exactly the notices that are new
  run_token VARCHAR(32) NOT NULL DEFAULT '',
  created_at {{TIME}} NOT NULL
) {{OPTS}};
CREATE UNIQUE INDEX ux_notices_dedupe ON notices(dedupe_key);
CREATE INDEX idx_notices_run ON notices(run_token);
CREATE INDEX idx_notices_activity ON notices(activity_id);
CREATE INDEX idx_notices_kind_as_of ON notices(kind, as_of);
CREATE INDEX idx_notices_pair ON notices(pair_id, kind);

CREATE TABLE outbox_messages (
  id {{ID}},
  kind VARCHAR(16) NOT NULL,
  pair_id BIGINT NULL,
  recipient_user_id BIGINT NULL,
  to_addr VARCHAR(254) NOT NULL,
  cc_addrs VARCHAR(2000) NOT NULL DEFAULT '',
  locale VARCHAR(8) NOT NULL,
  subject VARCHAR(500) NOT NULL,
  body_text {{LONGTEXT}} NOT NULL,
  body_html {{LONGTEXT}} NOT NULL,
  message_id VARCHAR(191) NOT NULL DEFAULT '',
  -- queued → sending (leased) → sent | queued again (retry) | failed
  status VARCHAR(16) NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  max_attempts INT NOT NULL DEFAULT 8,
  -- unix milliseconds: compared in SQL on both dialects without text-format traps
  next_attempt_at BIGINT NOT NULL DEFAULT 0,
  lease_until BIGINT NOT NULL DEFAULT 0,
  lease_token VARCHAR(64) NOT NULL DEFAULT '',
  last_error VARCHAR(2000) NOT NULL DEFAULT '',
  smtp_reply VARCHAR(500) NOT NULL DEFAULT '',
  sent_at {{TIME}} NULL,
  created_at {{TIME}} NOT NULL,
  updated_at {{TIME}} NOT NULL
) {{OPTS}};
CREATE INDEX idx_outbox_due ON outbox_messages(status, next_attempt_at);
CREATE INDEX idx_outbox_lease ON outbox_messages(status, lease_until);
CREATE INDEX idx_outbox_pair ON outbox_messages(pair_id);

CREATE TABLE message_notices (
  message_id BIGINT NOT NULL,
  notice_id BIGINT NOT NULL,
  PRIMARY KEY (message_id, notice_id)
) {{OPTS}};
CREATE INDEX idx_message_notices_notice ON message_notices(notice_id);

CREATE TABLE breaches (
  id {{ID}},
  pair_id BIGINT NOT NULL,
  agreement_id BIGINT NOT NULL,
  commitment_id BIGINT NOT NULL,
  period_key VARCHAR(32) NOT NULL,
  period_start {{DATE}} NOT NULL,
  period_end {{DATE}} NOT NULL,
  required DECIMAL(12,2) NOT NULL,
  achieved DECIMAL(12,2) NOT NULL,
  pending DECIMAL(12,2) NOT NULL,
  recorded_on {{DATE}} NOT NULL,
  created_at {{TIME}} NOT NULL
) {{OPTS}};
CREATE UNIQUE INDEX ux_breaches ON breaches(commitment_id, period_key);
CREATE INDEX idx_breaches_pair ON breaches(pair_id);
CREATE INDEX idx_breaches_period ON breaches(period_key);

CREATE TABLE job_runs (
  id {{ID}},
  job VARCHAR(64) NOT NULL,
  slot VARCHAR(64) NOT NULL,
  as_of {{DATE}} NULL,
  status VARCHAR(16) NOT NULL,
  error VARCHAR(2000) NOT NULL DEFAULT '',
  started_at {{TIME}} NOT NULL,
  finished_at {{TIME}} NULL
) {{OPTS}};
CREATE UNIQUE INDEX ux_job_runs ON job_runs(job, slot);
CREATE INDEX idx_job_runs_done ON job_runs(job, status, as_of);

-- Confirmed and pending totals per commitment and period, kept in step
-- with every activity transition in the same transaction. Dashboards and
-- sweeps read these few rows instead of streaming the activity history.
CREATE TABLE period_totals (
  commitment_id BIGINT NOT NULL,
  period_key VARCHAR(32) NOT NULL,
  pair_id BIGINT NOT NULL,
  period_start {{DATE}} NOT NULL,
  period_end {{DATE}} NOT NULL,
  achieved DECIMAL(14,2) NOT NULL DEFAULT 0,
  pending DECIMAL(14,2) NOT NULL DEFAULT 0,
  PRIMARY KEY (commitment_id, period_key)
) {{OPTS}};
CREATE INDEX idx_period_totals_end ON period_totals(period_end);
CREATE INDEX idx_period_totals_pair ON period_totals(pair_id, period_end);
