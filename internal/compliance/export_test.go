package compliance

// SetEachBatch makes Each grade n pairs at a time, so a test with a few
// pairs crosses batch boundaries.
func SetEachBatch(r *Reader, n int) { r.eachBatch = n }

// SetSummaryByCond makes Scope's summary take the path of a large scope.
func SetSummaryByCond(r *Reader, on bool) { r.summaryByCond = on }

// SetFullScope sets the largest scope Scope grades in full (-1: none, so
// every scope takes the page-and-summary path).
func SetFullScope(r *Reader, n int) { r.fullScope = n }

// SetStatusBatch makes RebuildStatus cover n pair ids per statement.
func SetStatusBatch(l *Ledger, n int64) { l.statusBatch = n }

// SetListScope sets the largest scope whose page Scope finds by
// PairIDsUnder (-1: none, so every large scope walks the pairs).
func SetListScope(r *Reader, n int) { r.listScope = n }
