-- Onboarding from an Excel workbook (internal/importer): the 用户 sheet
-- carries a mobile number, kept with the account; imported accounts get no
-- password (the invitation sets it), so password_hash may be empty.
ALTER TABLE users ADD COLUMN phone VARCHAR(32) NOT NULL DEFAULT '';
-- the agreement sheet finds a pair's agreement by its title
CREATE INDEX idx_agreements_title ON agreements(pair_id, title);
-- the workbook names schools by name where they have no code
CREATE INDEX idx_schools_name ON schools(name);
