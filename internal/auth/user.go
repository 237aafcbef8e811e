// Package auth holds users, password hashing, signed tokens and the Actor:
// who is calling and what part of the programme they may see.
package auth

import (
	"encoding/json"
	"strings"
	"time"
)

// Roles of DESIGN §1.
const (
	RoleAdmin       = "admin"
	RoleBureau      = "bureau"
	RoleCoordinator = "coordinator"
	RolePrincipal   = "principal"
)

// ValidRole reports whether r is a known role.
func ValidRole(r string) bool {
	switch r {
	case RoleAdmin, RoleBureau, RoleCoordinator, RolePrincipal:
		return true
	}
	return false
}

// Locales a user may choose.
const (
	LocaleZH = "zh-CN"
	LocaleEN = "en"
)

// ValidLocale reports whether l is supported.
func ValidLocale(l string) bool { return l == LocaleZH || l == LocaleEN }

// User is an account. Email is stored lower-cased; it is the login, and so
// is Phone (an 11-digit mainland mobile) when present. Locale "" means the
// person never chose one (JSON null). An empty PasswordHash is an invited
// account that has not set its password yet.
type User struct {
	ID           int64     `json:"id" gorm:"primaryKey"`
	Name         string    `json:"name"`
	Email        string    `json:"email"`
	Phone        *string   `json:"phone"`
	PasswordHash string    `json:"-"`
	Role         string    `json:"role"`
	SchoolID     *int64    `json:"school_id"`
	RegionID     *int64    `json:"region_id"`
	Locale       string    `json:"locale"`
	Active       bool      `json:"active"`
	SearchText   string    `json:"-"` // name and email with pinyin (internal/search)
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// MarshalJSON writes an unchosen locale as null and says whether the
// account can sign in yet.
func (u User) MarshalJSON() ([]byte, error) {
	type plain User
	var loc *string
	if u.Locale != "" {
		loc = &u.Locale
	}
	return json.Marshal(struct {
		plain
		Locale      *string `json:"locale"`
		PasswordSet bool    `json:"password_set"`
	}{plain(u), loc, u.PasswordHash != ""})
}

// NormalizeEmail is how emails are compared and stored.
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// Actor is the authenticated caller with what scoping needs.
type Actor struct {
	UserID int64
	// SessionID is the session (token jti) the request came with; empty for
	// the CLI's system actor.
	SessionID string
	Name      string
	Email     string
	Role      string
	Locale    string
	SchoolID  int64 // coordinator, principal
	RegionID  int64 // bureau
	// RegionPath is the bureau's region path ("/1/5/"); its subtree is every
	// region whose path starts with it.
	RegionPath string
}

func (a Actor) IsAdmin() bool  { return a.Role == RoleAdmin }
func (a Actor) IsBureau() bool { return a.Role == RoleBureau }

// IsSchoolUser is true for coordinators and principals.
func (a Actor) IsSchoolUser() bool { return a.Role == RoleCoordinator || a.Role == RolePrincipal }

// CoversPath reports whether a bureau actor's subtree contains the region
// with the given path. Admins cover everything.
func (a Actor) CoversPath(path string) bool {
	if a.IsAdmin() {
		return true
	}
	return a.IsBureau() && a.RegionPath != "" && strings.HasPrefix(path, a.RegionPath)
}
