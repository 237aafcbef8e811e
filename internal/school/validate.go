package school

import (
	"fmt"
	"strings"

	"github.com/twinning-platform/twinning/internal/errs"
)

// ValidLevel reports whether l is a region level.
func ValidLevel(l string) bool { return levelRank(l) != 0 }

// Levels lists the region levels, highest first.
func Levels() []string { return []string{Province, City, County} }

// ValidateRegion checks a region against the rules of CreateRegion without
// the database: shape, level, and that its parent (nil: none) is of a
// higher level. The workbook import resolves parents in bulk and calls it
// per row.
func (s *Service) ValidateRegion(in RegionInput, parent *Region) error {
	if err := s.val.Validate(in); err != nil {
		return err
	}
	if !ValidLevel(in.Level) {
		return errs.Field("level", "must be one of province, city, county")
	}
	switch {
	case in.Level == Province && parent != nil:
		return errs.Field("parent_id", "a province has no parent")
	case in.Level != Province && parent == nil:
		return errs.Field("parent_id", "is required for a "+in.Level)
	case parent != nil && levelRank(parent.Level) >= levelRank(in.Level):
		return errs.Field("parent_id", fmt.Sprintf("a %s cannot be under a %s", in.Level, parent.Level))
	}
	return nil
}

// ValidateSchool checks a school against the rules of CreateSchool that
// need no database (the region's existence and scope are the caller's).
func (s *Service) ValidateSchool(in SchoolInput) error {
	if err := s.val.Validate(in); err != nil {
		return err
	}
	return checkSchool(in.Stage, strings.TrimSpace(in.Email), nullable(in.Code))
}
