-- Accounts (issue 8): sign-in by mobile number, sessions that can be ended,
-- one-time invitation and reset links, and the login throttle. Times that
-- SQL compares are unix milliseconds (BIGINT), as in the outbox, so both
-- dialects compare numbers rather than text-formatted datetimes.

-- 11-digit mainland mobile; NULL when none (a unique index allows many NULLs
-- on both dialects). users.locale '' means "never chosen": pages follow the
-- browser, mail the programme's default.
ALTER TABLE users ADD COLUMN phone VARCHAR(20) NULL;
CREATE UNIQUE INDEX ux_users_phone ON users(phone);

-- One row per issued token (its jti). Each authenticated request reads its
-- row together with the user's (one indexed read), so ending a session takes
-- effect at once on every replica.
CREATE TABLE sessions (
  id VARCHAR(64) NOT NULL PRIMARY KEY,
  user_id BIGINT NOT NULL,
  kind VARCHAR(8) NOT NULL,
  seen_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  revoked_ms BIGINT NULL,
  created_at {{TIME}} NOT NULL,
  CONSTRAINT fk_sessions_user FOREIGN KEY (user_id) REFERENCES users(id)
) {{OPTS}};
CREATE INDEX idx_sessions_user ON sessions(user_id, expires_ms);

-- Invitation and reset links: only the SHA-256 of the token is stored; a
-- conditional UPDATE on used_ms makes each usable once.
CREATE TABLE account_tokens (
  id {{ID}},
  user_id BIGINT NOT NULL,
  kind VARCHAR(8) NOT NULL,
  token_hash CHAR(64) NOT NULL,
  expires_ms BIGINT NOT NULL,
  used_ms BIGINT NULL,
  created_at {{TIME}} NOT NULL,
  CONSTRAINT fk_account_tokens_user FOREIGN KEY (user_id) REFERENCES users(id)
) {{OPTS}};
CREATE UNIQUE INDEX ux_account_tokens_hash ON account_tokens(token_hash);
CREATE INDEX idx_account_tokens_user ON account_tokens(user_id, kind);

-- Failed logins, per account identifier (as typed, normalized: known or not)
-- and per client address; counted over a sliding window.
CREATE TABLE login_failures (
  id {{ID}},
  account VARCHAR(254) NOT NULL,
  ip VARCHAR(64) NOT NULL,
  at_ms BIGINT NOT NULL
) {{OPTS}};
CREATE INDEX idx_login_failures_account ON login_failures(account, at_ms);
CREATE INDEX idx_login_failures_ip ON login_failures(ip, at_ms);
-- the prune of rows no window looks at any more
CREATE INDEX idx_login_failures_at ON login_failures(at_ms);
