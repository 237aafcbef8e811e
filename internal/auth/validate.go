package auth

import (
	"github.com/twinning-platform/twinning/internal/errs"
)

// checkUser adds to f the rules of an account that need no database:
// role, locale (empty until the person chooses one), phone, and which of
// school and region the role requires. It returns the normalised phone.
// CreateUser and the workbook import (ValidateInvitee) share it.
func checkUser(in *UserInput, f errs.Fields) *string {
	if !ValidRole(in.Role) {
		f.Add("role", "must be one of admin, bureau, coordinator, principal")
	}
	if in.Locale != "" && !ValidLocale(in.Locale) {
		f.Add("locale", "must be zh-CN or en")
	}
	phone, perr := normalizePhone(in.Phone)
	if perr != "" {
		f.Add("phone", perr)
	}
	switch in.Role {
	case RoleCoordinator, RolePrincipal:
		if in.SchoolID == nil {
			f.Add("school_id", "is required for a "+in.Role)
		}
		if in.RegionID != nil {
			f.Add("region_id", "must be empty for a "+in.Role)
		}
	case RoleBureau:
		if in.RegionID == nil {
			f.Add("region_id", "is required for a bureau")
		}
		if in.SchoolID != nil {
			f.Add("school_id", "must be empty for a bureau")
		}
	case RoleAdmin:
		if in.SchoolID != nil || in.RegionID != nil {
			f.Add("role", "an admin belongs to no school or region")
		}
	}
	return phone
}

// placeholderPassword satisfies the password's shape rule for an account
// created without one (an invitation sets it later); it is never stored.
const placeholderPassword = "invitation-sets-it"

// ValidateInvitee checks an account that is created without a password
// (the workbook import), with every other rule of CreateUser, including
// what a bureau may create. SchoolID and RegionID only need to be present
// (their existence and scope are the caller's to check, in bulk).
func (s *Service) ValidateInvitee(a Actor, in UserInput) error {
	in.Password = placeholderPassword
	if err := s.val.Validate(in); err != nil {
		return err
	}
	f := errs.Fields{}
	checkUser(&in, f)
	if err := f.Err(); err != nil {
		return err
	}
	if a.IsBureau() && (in.Role == RoleAdmin || in.Role == RoleBureau) {
		return errs.Field("role", "a bureau may only create coordinators and principals")
	}
	return nil
}
