-- The compliance summary reads the totals of the few periods a view shows
-- (this month, term, school year, the agreements' spans) for a whole
-- province: a covering range over (period_end, period_start) instead of a
-- scan of every total.
CREATE INDEX idx_period_totals_period ON period_totals(period_end, period_start, achieved, commitment_id);
