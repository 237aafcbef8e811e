package pairing

import (
	"github.com/twinning-platform/twinning/internal/errs"
)

// ValidatePair checks a pair against the rules of CreatePair that need no
// database (the schools' existence and scope are the caller's to check).
func (s *Service) ValidatePair(in PairInput) error {
	if err := s.val.Validate(in); err != nil {
		return err
	}
	p := Pair{SupportingSchoolID: in.SupportingSchoolID, SupportedSchoolID: in.SupportedSchoolID,
		StartsOn: in.StartsOn, EndsOn: in.EndsOn}
	f := errs.Fields{}
	if p.SupportingSchoolID == p.SupportedSchoolID {
		f.Add("supported_school_id", "a school cannot be paired with itself")
	}
	checkSpan(f, p)
	return f.Err()
}

// ValidateAgreement checks an agreement against the rules of
// CreateAgreement that need no database, for pair p (overlaps with the
// pair's other agreements are the caller's to check).
func (s *Service) ValidateAgreement(in AgreementInput, p Pair) error {
	if err := s.val.Validate(in); err != nil {
		return err
	}
	return checkAgreement(in, p)
}

// ActiveKeyOf is the active_key of an active pair of these two schools:
// the workbook import finds existing pairs by it, in bulk.
func ActiveKeyOf(supportingSchoolID, supportedSchoolID int64) string {
	return *activeKey(Pair{SupportingSchoolID: supportingSchoolID, SupportedSchoolID: supportedSchoolID, Status: Active})
}
