package notify

// SetSplit makes s write every sweep of at least least candidates in parts
// (Sweeper.writeParts), as a province's reminder day is.
func SetSplit(s *Sweeper, least int) { s.splitMin = least }
