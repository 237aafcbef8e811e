-- The status read model of the dashboards and the compliance summary
-- (issue 12): how many commitments, and how many commitment-periods with
-- something achieved, share everything their grade depends on — the
-- agreement's span, the period kind, the retirement date, the minimum —
-- per scope (a region, 0 for the whole programme: every region either
-- school of a pair sits under) and area (the child of the scope the pair
-- is shown under on its dashboard, 0 for directly in it). A view grades
-- each row once for its date and multiplies by n, so it reads rows in
-- proportion to the areas and shapes shown, not to the pairs below.
--
-- sums = 0: n commitments of the shape (every period of theirs counted as
-- if nothing was achieved); sums = 1: n of their periods [period_start,
-- period_end] whose achieved sum grades like achieved (a bucket: the sum
-- capped at the minimum rounded up, else the minimum when reached, else
-- the sum rounded down to a whole unit — every threshold the grade
-- compares with is one of these). ends_on is the last day when never
-- retired (2199-12-31, the last date the service holds). Kept in the transaction of every activity transition and
-- lifecycle change (compliance.Ledger); rows whose n fell to 0 stay, and
-- readers skip them.
CREATE TABLE status_counts (
  scope_id BIGINT NOT NULL,
  area_id BIGINT NOT NULL,
  effective_from {{DATE}} NOT NULL,
  effective_to {{DATE}} NOT NULL,
  period VARCHAR(16) NOT NULL,
  ends_on {{DATE}} NOT NULL,
  minimum DECIMAL(10,2) NOT NULL,
  measure VARCHAR(8) NOT NULL,
  categories VARCHAR(500) NOT NULL,
  sums SMALLINT NOT NULL,
  period_start {{DATE}} NOT NULL,
  period_end {{DATE}} NOT NULL,
  achieved DECIMAL(14,2) NOT NULL,
  n INT NOT NULL
) {{OPTS}};
CREATE UNIQUE INDEX ux_status_counts ON status_counts(scope_id, sums, period_end, period_start, area_id, effective_from, effective_to, period, ends_on, minimum, measure, categories, achieved);
