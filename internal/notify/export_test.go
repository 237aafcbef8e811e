package notify

import "gorm.io/gorm"

// SetSplit makes s write every sweep of at least least candidates in parts
// (Sweeper.writeParts), as a province's reminder day is, and read every
// school's users beside the plan, as a province's sweep does.
func SetSplit(s *Sweeper, least int) { s.splitMin, s.everyoneMin = least, 1 }

// InsertNew is insertNew for notices (a sweep's insert of the notices it
// planned), in statements of n rows.
func InsertNew(conn *gorm.DB, rows []Notice, n int) error { return insertNew(conn, rows, n) }
