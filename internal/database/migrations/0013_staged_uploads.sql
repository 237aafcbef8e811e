-- Staged uploads (issue 10): a phone uploads each file as it is chosen and
-- the log or amend form then submits the files' tokens. A row is claimed
-- (claimed_at, activity_id) in the activity's own transaction and becomes
-- an evidence row pointing at the same stored file; rows no form claimed
-- are deleted, then their files, by the daily clean-up (created_at).
CREATE TABLE staged_uploads (
  id {{ID}},
  token CHAR(32) NOT NULL,
  user_id BIGINT NOT NULL,
  school_id BIGINT NOT NULL,
  file_name VARCHAR(255) NOT NULL,
  content_type VARCHAR(100) NOT NULL,
  size BIGINT NOT NULL,
  storage_key VARCHAR(255) NOT NULL,
  sha256 CHAR(64) NOT NULL,
  created_at {{TIME}} NOT NULL,
  claimed_at {{TIME}} NULL,
  activity_id BIGINT NULL
) {{OPTS}};
CREATE UNIQUE INDEX uq_staged_uploads_token ON staged_uploads(token);
CREATE INDEX idx_staged_uploads_user ON staged_uploads(user_id, claimed_at);
CREATE INDEX idx_staged_uploads_school ON staged_uploads(school_id, claimed_at);
CREATE INDEX idx_staged_uploads_created ON staged_uploads(created_at);
