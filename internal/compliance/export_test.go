package compliance

// SetEachBatch makes Each grade n pairs at a time, so a test with a few
// pairs crosses batch boundaries.
func SetEachBatch(r *Reader, n int) { r.eachBatch = n }
