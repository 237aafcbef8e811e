-- Record lifecycles (issue 7): why a pair was suspended or ended, a
-- commitment retired from a date, the signed agreement attached as files,
-- and the pinyin of names for search at province scale.

-- the reason given with the last status change (suspend, resume, end)
ALTER TABLE pairs ADD COLUMN status_reason VARCHAR(500) NOT NULL DEFAULT '';

-- a commitment retired from this date: periods starting after it are no
-- longer required; NULL = applies for the whole agreement
ALTER TABLE commitments ADD COLUMN ends_on {{DATE}} NULL;

CREATE TABLE agreement_documents (
  id {{ID}},
  agreement_id BIGINT NOT NULL,
  file_name VARCHAR(255) NOT NULL,
  content_type VARCHAR(100) NOT NULL,
  size BIGINT NOT NULL,
  storage_key VARCHAR(255) NOT NULL,
  sha256 CHAR(64) NOT NULL,
  uploaded_by BIGINT NOT NULL,
  created_at {{TIME}} NOT NULL,
  CONSTRAINT fk_agreement_documents_agreement FOREIGN KEY (agreement_id) REFERENCES agreements(id)
) {{OPTS}};
CREATE INDEX idx_agreement_documents_agreement ON agreement_documents(agreement_id);

-- what search matches, lower case: the name, the code, the full pinyin
-- and the initials ("武汉市第六中学 1142010001 wuhanshidiliuzhongxue whsdlzx"),
-- maintained on every write and backfilled at start-up for rows where it
-- is empty (a migration cannot run the pinyin converter). A search is
-- LIKE '%q%' over the covering index (id, search_text): a scan of the
-- narrow index, not of the table. 760 characters fit an InnoDB index key.
ALTER TABLE schools ADD COLUMN search_text VARCHAR(760) NOT NULL DEFAULT '';
CREATE INDEX idx_schools_search ON schools(search_text, id);
ALTER TABLE users ADD COLUMN search_text VARCHAR(760) NOT NULL DEFAULT '';
CREATE INDEX idx_users_search ON users(search_text, id);
