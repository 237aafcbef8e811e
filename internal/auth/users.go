package auth

import (
	"bytes"
	"context"
	"encoding/json"
	netmail "net/mail"
	"strings"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
)

// Opt is a field of a partial update (RFC 7396): absent (Set false), null
// (Set true, Null true) or a value.
type Opt[T any] struct {
	Set  bool
	Null bool
	V    T
}

// UnmarshalJSON is only called for a present field.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

// UserPatch changes some fields of an account. null clears the optional
// ones (phone, locale); role, school_id and region_id are for admins.
type UserPatch struct {
	Name     Opt[string] `json:"name"`
	Email    Opt[string] `json:"email"`
	Phone    Opt[string] `json:"phone"`
	Locale   Opt[string] `json:"locale"`
	Active   Opt[bool]   `json:"active"`
	Role     Opt[string] `json:"role"`
	SchoolID Opt[int64]  `json:"school_id"`
	RegionID Opt[int64]  `json:"region_id"`
}

// validEmail is the same check as the validator's "email" tag.
func validEmail(e string) bool {
	a, err := netmail.ParseAddress(e)
	return err == nil && a.Address == e && len(e) <= 254 && strings.Contains(e, "@")
}

// userInScope loads a user the actor may manage: anyone for an admin; for a
// bureau, the users of schools in its subtree. Others see only themselves
// (when self is allowed). Outside the scope it is "not found".
func (s *Service) userInScope(ctx context.Context, a Actor, id int64, manage bool) (User, error) {
	var u User
	err := s.db.Conn(ctx).First(&u, id).Error
	if database.IsNotFound(err) {
		return u, errs.NotFound("user")
	}
	if err != nil {
		return u, err
	}
	switch {
	case a.IsAdmin():
		return u, nil
	case a.IsBureau() && u.SchoolID != nil:
		path, err := s.dir.SchoolRegionPath(ctx, *u.SchoolID, "school_id")
		if err != nil {
			return u, err
		}
		if a.CoversPath(path) {
			return u, nil
		}
	case !manage && u.ID == a.UserID:
		return u, nil
	}
	if u.ID == a.UserID {
		return u, errs.Forbidden("change your own account in /account")
	}
	return User{}, errs.NotFound("user")
}

// GetUser returns one account: an admin any, a bureau the school users of
// its subtree, anyone themselves.
func (s *Service) GetUser(ctx context.Context, a Actor, id int64) (User, error) {
	return s.userInScope(ctx, a, id, false)
}

// UpdateUser applies a partial change. active:false signs the person out
// everywhere at once; a changed email or role ends their sessions too.
func (s *Service) UpdateUser(ctx context.Context, a Actor, id int64, in UserPatch) (User, error) {
	if !a.IsAdmin() && !a.IsBureau() {
		return User{}, errs.Forbidden("only an admin or a bureau may change accounts")
	}
	return s.updateUser(ctx, a, id, in, false)
}

func (s *Service) updateUser(ctx context.Context, a Actor, id int64, in UserPatch, self bool) (User, error) {
	now := s.now()
	var out User
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		var u User
		var err error
		if self {
			err = s.db.Conn(ctx).First(&u, id).Error
		} else {
			u, err = s.userInScope(ctx, a, id, true)
		}
		if err != nil {
			return err
		}
		f := errs.Fields{}
		set := map[string]any{}
		if in.Name.Set {
			n := strings.TrimSpace(in.Name.V)
			if in.Name.Null || n == "" || len([]rune(n)) > 100 {
				f.Add("name", "is required, at most 100 characters")
			} else {
				set["name"], u.Name = n, n
			}
		}
		if in.Email.Set {
			e := NormalizeEmail(in.Email.V)
			if in.Email.Null || !validEmail(e) {
				f.Add("email", "must be a valid email address")
			} else {
				set["email"], u.Email = e, e
			}
		}
		if in.Phone.Set {
			var p *string
			if !in.Phone.Null {
				var msg string
				if p, msg = normalizePhone(&in.Phone.V); msg != "" {
					f.Add("phone", msg)
				}
			}
			set["phone"], u.Phone = p, p
		}
		if in.Locale.Set {
			switch {
			case in.Locale.Null:
				set["locale"], u.Locale = "", ""
			case ValidLocale(in.Locale.V):
				set["locale"], u.Locale = in.Locale.V, in.Locale.V
			default:
				f.Add("locale", "must be zh-CN, en or null")
			}
		}
		if in.Active.Set {
			if in.Active.Null {
				f.Add("active", "must be true or false")
			} else if u.ID == a.UserID && !in.Active.V {
				f.Add("active", "you cannot switch off your own account")
			} else {
				set["active"], u.Active = in.Active.V, in.Active.V
			}
		}
		if in.Role.Set || in.SchoolID.Set || in.RegionID.Set {
			if !a.IsAdmin() {
				return errs.Forbidden("only an admin may change role, school or region")
			}
			if in.Role.Set {
				if in.Role.Null || !ValidRole(in.Role.V) {
					f.Add("role", "must be one of admin, bureau, coordinator, principal")
				} else {
					u.Role = in.Role.V
				}
			}
			if in.SchoolID.Set {
				u.SchoolID = nil
				if !in.SchoolID.Null {
					v := in.SchoolID.V
					u.SchoolID = &v
				}
			}
			if in.RegionID.Set {
				u.RegionID = nil
				if !in.RegionID.Null {
					v := in.RegionID.V
					u.RegionID = &v
				}
			}
			switch u.Role {
			case RoleCoordinator, RolePrincipal:
				if u.SchoolID == nil || u.RegionID != nil {
					f.Add("school_id", "a "+u.Role+" belongs to one school and no region")
				}
			case RoleBureau:
				if u.RegionID == nil || u.SchoolID != nil {
					f.Add("region_id", "a bureau belongs to one region and no school")
				}
			case RoleAdmin:
				if u.SchoolID != nil || u.RegionID != nil {
					f.Add("role", "an admin belongs to no school or region")
				}
			}
			if u.SchoolID != nil {
				if _, err := s.dir.SchoolRegionPath(ctx, *u.SchoolID, "school_id"); err != nil {
					return err
				}
			}
			if u.RegionID != nil {
				if _, err := s.dir.RegionPath(ctx, *u.RegionID, "region_id"); err != nil {
					return err
				}
			}
			set["role"], set["school_id"], set["region_id"] = u.Role, u.SchoolID, u.RegionID
		}
		if err := f.Err(); err != nil {
			return err
		}
		if len(set) == 0 {
			out = u
			return nil
		}
		set["updated_at"] = now.UTC()
		conn := s.db.Conn(ctx)
		if err := conn.Model(&User{}).Where("id = ?", u.ID).Updates(set).Error; err != nil {
			email, _ := set["email"].(string)
			phone, _ := set["phone"].(*string)
			return s.duplicateUser(ctx, a, err, u.ID, email, phone)
		}
		_, email := set["email"]
		_, role := set["role"]
		if (in.Active.Set && !u.Active) || email || role {
			if err := s.revokeSessions(ctx, u.ID, "", now); err != nil {
				return err
			}
		}
		if err := audit.Record(ctx, conn, now, a.UserID, "user.update", "user", u.ID, set); err != nil {
			return err
		}
		out = u
		return nil
	})
	return out, err
}

// ProfileInput is what a person changes on their own account (/account).
type ProfileInput struct {
	Name   Opt[string] `json:"name"`
	Phone  Opt[string] `json:"phone"`
	Locale Opt[string] `json:"locale"`
}

// UpdateProfile changes the actor's own name, mobile number and language.
func (s *Service) UpdateProfile(ctx context.Context, a Actor, in ProfileInput) (User, error) {
	if a.UserID == 0 {
		return User{}, errs.Unauthorized("sign in first")
	}
	return s.updateUser(ctx, a, a.UserID, UserPatch{Name: in.Name, Phone: in.Phone, Locale: in.Locale}, true)
}
