-- The sweep decides a period (breach or not) once its books close. Which
-- periods are still undecided follows from the data alone: each agreement
-- records the as-of date of the last sweep that evaluated it, written in
-- that sweep's transaction. Periods whose books closed before it are
-- decided; a sweep evaluates the others (every period when NULL: an
-- agreement no sweep has seen, e.g. created backdated after later sweeps),
-- whatever the wall clock of the replica that created it.
ALTER TABLE agreements ADD COLUMN decided_through {{DATE}} NULL;
