-- Cluster safety (issue 9). A job_runs claim carries the token of the
-- replica that holds it, so a claim left "running" by a replica that died
-- can be taken over (after the scheduler's claim lease) with a conditional
-- UPDATE, and only the holder records how the run ended.
ALTER TABLE job_runs ADD COLUMN claim_token VARCHAR(32) NOT NULL DEFAULT '';
CREATE INDEX idx_job_runs_running ON job_runs(job, status, started_at);
