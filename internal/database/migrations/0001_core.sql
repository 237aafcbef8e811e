-- The core schema: regions, schools, users, terms, pairs, agreements,
-- commitments, activities, evidence, idempotency keys and the audit log.
-- {{ID}}, {{DATE}}, {{TIME}}, {{LONGTEXT}} and {{OPTS}} are replaced per dialect
-- (internal/database/migrate.go) so there is one source of truth for both.

CREATE TABLE regions (
  id {{ID}},
  name VARCHAR(100) NOT NULL,
  level VARCHAR(16) NOT NULL,
  parent_id BIGINT NULL,
  -- materialised path "/1/5/9/": a subtree is one indexed LIKE 'prefix%'
  path VARCHAR(255) NOT NULL DEFAULT '',
  created_at {{TIME}} NOT NULL,
  updated_at {{TIME}} NOT NULL,
  CONSTRAINT fk_regions_parent FOREIGN KEY (parent_id) REFERENCES regions(id)
) {{OPTS}};
CREATE INDEX idx_regions_path ON regions(path);
CREATE INDEX idx_regions_parent ON regions(parent_id);

CREATE TABLE schools (
  id {{ID}},
  name VARCHAR(200) NOT NULL,
  code VARCHAR(10) NULL,
  region_id BIGINT NOT NULL,
  stage VARCHAR(16) NOT NULL,
  email VARCHAR(254) NOT NULL DEFAULT '',
  created_at {{TIME}} NOT NULL,
  updated_at {{TIME}} NOT NULL,
  CONSTRAINT fk_schools_region FOREIGN KEY (region_id) REFERENCES regions(id)
) {{OPTS}};
CREATE UNIQUE INDEX ux_schools_code ON schools(code);
CREATE INDEX idx_schools_region ON schools(region_id);

CREATE TABLE users (
  id {{ID}},
  name VARCHAR(100) NOT NULL,
  email VARCHAR(254) NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  role VARCHAR(16) NOT NULL,
  school_id BIGINT NULL,
  region_id BIGINT NULL,
  locale VARCHAR(8) NOT NULL DEFAULT 'zh-CN',
  active BOOLEAN NOT NULL DEFAULT TRUE,
  created_at {{TIME}} NOT NULL,
  updated_at {{TIME}} NOT NULL,
  CONSTRAINT fk_users_school FOREIGN KEY (school_id) REFERENCES schools(id),
  CONSTRAINT fk_users_region FOREIGN KEY (region_id) REFERENCES regions(id)
) {{OPTS}};
CREATE UNIQUE INDEX ux_users_email ON users(email);
CREATE INDEX idx_users_school ON users(school_id, role);
CREATE INDEX idx_users_region ON users(region_id, role);

CREATE TABLE terms (
  id {{ID}},
  school_year VARCHAR(9) NOT NULL,
  season VARCHAR(8) NOT NULL,
  starts_on {{DATE}} NOT NULL,
  ends_on {{DATE}} NOT NULL,
  created_at {{TIME}} NOT NULL,
  updated_at {{TIME}} NOT NULL
) {{OPTS}};
CREATE UNIQUE INDEX ux_terms_year_season ON terms(school_year, season);

CREATE TABLE pairs (
  id {{ID}},
  supporting_school_id BIGINT NOT NULL,
  supported_school_id BIGINT NOT NULL,
  starts_on {{DATE}} NOT NULL,
  ends_on {{DATE}} NULL,
  status VARCHAR(16) NOT NULL,
  round VARCHAR(50) NOT NULL DEFAULT '',
  -- "<supporting>-<supported>" while active, NULL otherwise: the unique
  -- index makes "two active pairs of the same schools" impossible even
  -- under concurrent requests on several replicas.
  active_key VARCHAR(50) NULL,
  created_at {{TIME}} NOT NULL,
  updated_at {{TIME}} NOT NULL,
  CONSTRAINT fk_pairs_supporting FOREIGN KEY (supporting_school_id) REFERENCES schools(id),
  CONSTRAINT fk_pairs_supported FOREIGN KEY (supported_school_id) REFERENCES schools(id)
) {{OPTS}};
CREATE UNIQUE INDEX ux_pairs_active ON pairs(active_key);
CREATE INDEX idx_pairs_supporting ON pairs(supporting_school_id);
CREATE INDEX idx_pairs_supported ON pairs(supported_school_id);

CREATE TABLE agreements (
  id {{ID}},
  pair_id BIGINT NOT NULL,
  title VARCHAR(200) NOT NULL,
  signed_on {{DATE}} NULL,
  effective_from {{DATE}} NOT NULL,
  effective_to {{DATE}} NOT NULL,
  goals {{LONGTEXT}} NULL,
  created_at {{TIME}} NOT NULL,
  updated_at {{TIME}} NOT NULL,
  CONSTRAINT fk_agreements_pair FOREIGN KEY (pair_id) REFERENCES pairs(id)
) {{OPTS}};
CREATE INDEX idx_agreements_pair ON agreements(pair_id, effective_from);

CREATE TABLE commitments (
  id {{ID}},
  agreement_id BIGINT NOT NULL,
  position INT NOT NULL DEFAULT 0,
  measure VARCHAR(8) NOT NULL,
  minimum DECIMAL(10,2) NOT NULL,
  period VARCHAR(16) NOT NULL,
  description VARCHAR(500) NOT NULL DEFAULT '',
  -- the category codes, comma-separated in catalogue order: loading 60,000
  -- commitments needs no join; commitment_categories serves SQL filters
  categories VARCHAR(500) NOT NULL DEFAULT '',
  created_at {{TIME}} NOT NULL,
  CONSTRAINT fk_commitments_agreement FOREIGN KEY (agreement_id) REFERENCES agreements(id)
) {{OPTS}};
CREATE INDEX idx_commitments_agreement ON commitments(agreement_id, position);

CREATE TABLE commitment_categories (
  commitment_id BIGINT NOT NULL,
  category VARCHAR(32) NOT NULL,
  PRIMARY KEY (commitment_id, category),
  CONSTRAINT fk_commitment_categories FOREIGN KEY (commitment_id) REFERENCES commitments(id)
) {{OPTS}};

CREATE TABLE activities (
  id {{ID}},
  pair_id BIGINT NOT NULL,
  category VARCHAR(32) NOT NULL,
  title VARCHAR(200) NOT NULL,
  occurred_on {{DATE}} NOT NULL,
  hours DECIMAL(8,2) NOT NULL DEFAULT 0,
  persons INT NOT NULL DEFAULT 1,
  description {{LONGTEXT}} NULL,
  location VARCHAR(200) NOT NULL DEFAULT '',
  logged_by_user_id BIGINT NOT NULL,
  logged_by_school_id BIGINT NOT NULL,
  logged_at {{TIME}} NOT NULL,
  -- the local date of logged_at: the no-back-filling rule is stated in dates
  logged_on {{DATE}} NOT NULL,
  imported BOOLEAN NOT NULL DEFAULT FALSE,
  status VARCHAR(16) NOT NULL,
  decided_by_user_id BIGINT NULL,
  decided_at {{TIME}} NULL,
  dispute_reason VARCHAR(1000) NOT NULL DEFAULT '',
  created_at {{TIME}} NOT NULL,
  updated_at {{TIME}} NOT NULL,
  CONSTRAINT fk_activities_pair FOREIGN KEY (pair_id) REFERENCES pairs(id),
  CONSTRAINT fk_activities_user FOREIGN KEY (logged_by_user_id) REFERENCES users(id),
  CONSTRAINT fk_activities_school FOREIGN KEY (logged_by_school_id) REFERENCES schools(id)
) {{OPTS}};
CREATE INDEX idx_activities_pair ON activities(pair_id, occurred_on);
-- covers the sweep's scan of long-pending activities without row lookups
CREATE INDEX idx_activities_status ON activities(status, logged_on, pair_id, logged_by_school_id);
-- activities that changed since the last sweep (e.g. an amended dispute)
CREATE INDEX idx_activities_updated ON activities(status, updated_at);

CREATE TABLE evidence (
  id {{ID}},
  activity_id BIGINT NOT NULL,
  file_name VARCHAR(255) NOT NULL,
  content_type VARCHAR(100) NOT NULL,
  size BIGINT NOT NULL,
  storage_key VARCHAR(255) NOT NULL,
  sha256 CHAR(64) NOT NULL,
  uploaded_by BIGINT NOT NULL,
  created_at {{TIME}} NOT NULL,
  CONSTRAINT fk_evidence_activity FOREIGN KEY (activity_id) REFERENCES activities(id)
) {{OPTS}};
CREATE INDEX idx_evidence_activity ON evidence(activity_id);

CREATE TABLE idempotency_keys (
  id {{ID}},
  user_id BIGINT NOT NULL,
  idem_key VARCHAR(255) NOT NULL,
  request_hash CHAR(64) NOT NULL,
  status_code INT NOT NULL,
  response {{LONGTEXT}} NOT NULL,
  created_at {{TIME}} NOT NULL
) {{OPTS}};
CREATE UNIQUE INDEX ux_idempotency ON idempotency_keys(user_id, idem_key);

CREATE TABLE audit_log (
  id {{ID}},
  at {{TIME}} NOT NULL,
  user_id BIGINT NULL,
  action VARCHAR(64) NOT NULL,
  entity VARCHAR(32) NOT NULL,
  entity_id BIGINT NULL,
  details {{LONGTEXT}} NULL,
  request_id VARCHAR(64) NOT NULL DEFAULT '',
  ip VARCHAR(64) NOT NULL DEFAULT ''
) {{OPTS}};
CREATE INDEX idx_audit_entity ON audit_log(entity, entity_id);
CREATE INDEX idx_audit_at ON audit_log(at);
