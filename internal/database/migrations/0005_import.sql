-- Onboarding from an Excel workbook (internal/importer): the 用户 sheet
-- carries a mobile number (users.phone, migration 0007); imported accounts get no
-- password (the invitation sets it), so password_hash may be empty.
-- the agreement sheet finds a pair's agreement by its title
CREATE INDEX idx_agreements_title ON agreements(pair_id, title);
-- the workbook names schools by name where they have no code
CREATE INDEX idx_schools_name ON schools(name);
