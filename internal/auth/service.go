package auth

import (
	"context"
	"strings"
	"time"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/search"
	"github.com/twinning-platform/twinning/internal/validation"
)

// Directory answers where schools and regions sit in the tree; the school
// package implements it (auth must not import it).
type Directory interface {
	RegionPath(ctx context.Context, regionID int64, field string) (string, error)
	SchoolRegionPath(ctx context.Context, schoolID int64, field string) (string, error)
}

// Service logs users in, authenticates tokens and manages accounts.
type Service struct {
	db     *database.DB
	val    *validation.Validator
	dir    Directory
	tokens *Tokens
	hasher Hasher
	now    func() time.Time
}

// NewService wires the service.
func NewService(db *database.DB, val *validation.Validator, dir Directory, tokens *Tokens, hasher Hasher, now func() time.Time) *Service {
	return &Service{db: db, val: val, dir: dir, tokens: tokens, hasher: hasher, now: now}
}

// LoginInput is the body of POST /auth/login.
type LoginInput struct {
	Email    string `json:"email" validate:"required,max=254"`
	Password string `json:"password" validate:"required,max=200"`
}

// Session is what a successful login returns.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      User      `json:"user"`
}

// Login checks the password and issues a token. A wrong email and a wrong
// password answer alike, so accounts cannot be probed.
func (s *Service) Login(ctx context.Context, in LoginInput) (Session, error) {
	if err := s.val.Validate(in); err != nil {
		return Session{}, err
	}
	var u User
	err := s.db.Conn(ctx).Where("email = ?", NormalizeEmail(in.Email)).Take(&u).Error
	if err != nil && !database.IsNotFound(err) {
		return Session{}, err
	}
	if err != nil || !u.Active || !s.hasher.Check(u.PasswordHash, in.Password) {
		return Session{}, errs.Unauthorized("wrong email or password")
	}
	tok, exp, err := s.tokens.Issue(u.ID, s.now())
	if err != nil {
		return Session{}, err
	}
	return Session{Token: tok, ExpiresAt: exp, User: u}, nil
}

// Authenticate verifies a token and loads the actor. The user row is read on
// every request so that a deactivated account stops at once.
func (s *Service) Authenticate(ctx context.Context, token string) (Actor, error) {
	id, err := s.tokens.Verify(token, s.now())
	if err != nil {
		return Actor{}, errs.Unauthorized(err.Error())
	}
	return s.ActorOf(ctx, id)
}

// ActorOf loads the actor for a user id (also for CLI use).
func (s *Service) ActorOf(ctx context.Context, id int64) (Actor, error) {
	var row struct {
		User
		RegionPath string
	}
	err := s.db.Conn(ctx).Table("users").
		Select("users.*, regions.path AS region_path").
		Joins("LEFT JOIN regions ON regions.id = users.region_id").
		Where("users.id = ?", id).Take(&row).Error
	if database.IsNotFound(err) || (err == nil && !row.Active) {
		return Actor{}, errs.Unauthorized("account not found or disabled")
	}
	if err != nil {
		return Actor{}, err
	}
	a := Actor{UserID: row.ID, Name: row.Name, Email: row.Email, Role: row.Role, Locale: row.Locale, RegionPath: row.RegionPath}
	if row.SchoolID != nil {
		a.SchoolID = *row.SchoolID
	}
	if row.RegionID != nil {
		a.RegionID = *row.RegionID
	}
	return a, nil
}

// UserInput creates a user.
type UserInput struct {
	Name     string `json:"name" validate:"required,max=100"`
	Email    string `json:"email" validate:"required,email,max=254"`
	Password string `json:"password" validate:"required,min=10,max=200"`
	Role     string `json:"role" validate:"required"`
	SchoolID *int64 `json:"school_id"`
	RegionID *int64 `json:"region_id"`
	Locale   string `json:"locale"`
}

// CreateUser adds an account. Admins create anyone; a bureau creates
// coordinators and principals of schools in its subtree.
func (s *Service) CreateUser(ctx context.Context, a Actor, in UserInput) (User, error) {
	if !a.IsAdmin() && !a.IsBureau() {
		return User{}, errs.Forbidden("only an admin or a bureau may create users")
	}
	if err := s.val.Validate(in); err != nil {
		return User{}, err
	}
	f := errs.Fields{}
	if !ValidRole(in.Role) {
		f.Add("role", "must be one of admin, bureau, coordinator, principal")
	}
	if len(in.Password) > 72 {
		f.Add("password", "must be at most 72 bytes (about 24 Chinese characters)") // bcrypt's limit
	}
	if in.Locale == "" {
		in.Locale = LocaleZH
	}
	if !ValidLocale(in.Locale) {
		f.Add("locale", "must be zh-CN or en")
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
	if err := f.Err(); err != nil {
		return User{}, err
	}
	if a.IsBureau() && (in.Role == RoleAdmin || in.Role == RoleBureau) {
		return User{}, errs.Forbidden("a bureau may only create coordinators and principals")
	}
	hash, err := s.hasher.Hash(in.Password)
	if err != nil {
		return User{}, err
	}
	u := User{Name: strings.TrimSpace(in.Name), Email: NormalizeEmail(in.Email), PasswordHash: hash, Role: in.Role,
		SchoolID: in.SchoolID, RegionID: in.RegionID, Locale: in.Locale, Active: true}
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		var path string
		var err error
		if in.SchoolID != nil {
			path, err = s.dir.SchoolRegionPath(ctx, *in.SchoolID, "school_id")
		} else if in.RegionID != nil {
			path, err = s.dir.RegionPath(ctx, *in.RegionID, "region_id")
		}
		if err != nil {
			return err
		}
		if a.IsBureau() && !a.CoversPath(path) {
			return errs.Forbidden("that school is outside your region")
		}
		conn := s.db.Conn(ctx)
		u.SearchText = search.Text(u.Name, u.Email)
		if err := conn.Create(&u).Error; err != nil {
			if database.IsDuplicate(err) {
				return errs.Conflict("duplicate_email", "email", "a user with this email already exists")
			}
			return err
		}
		in.Password = "" // never into the audit log
		return audit.Record(ctx, conn, s.now(), a.UserID, "user.create", "user", u.ID, in)
	})
	return u, err
}

// UserFilter narrows ListUsers.
type UserFilter struct {
	Role     string
	SchoolID int64
	Query    string // name, email or pinyin, anywhere (internal/search)
}

// ListUsers lists accounts: all for admins, the school users of its
// subtree for a bureau.
func (s *Service) ListUsers(ctx context.Context, a Actor, f UserFilter, p page.Page) (page.List[User], error) {
	p = p.Normalize()
	q := s.db.Conn(ctx).Model(&User{})
	switch {
	case a.IsAdmin():
	case a.IsBureau():
		q = q.Where("(school_id IN (SELECT s.id FROM schools s JOIN regions r ON r.id = s.region_id WHERE r.path LIKE ?) OR region_id IN (SELECT id FROM regions WHERE path LIKE ?))",
			a.RegionPath+"%", a.RegionPath+"%")
	default:
		return page.List[User]{}, errs.Forbidden("only an admin or a bureau may list users")
	}
	if f.Role != "" {
		q = q.Where("role = ?", f.Role)
	}
	if f.SchoolID != 0 {
		q = q.Where("school_id = ?", f.SchoolID)
	}
	if strings.TrimSpace(f.Query) != "" {
		q = q.Where(search.Condition(s.db.Dialect(), "search_text"), search.Like(f.Query))
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return page.List[User]{}, err
	}
	var out []User
	err := q.Order("id").Limit(p.Limit).Offset(p.Offset).Find(&out).Error
	return page.Of(out, p, total), err
}

// Me returns the actor's own account.
func (s *Service) Me(ctx context.Context, a Actor) (User, error) {
	var u User
	err := s.db.Conn(ctx).First(&u, a.UserID).Error
	if database.IsNotFound(err) {
		return u, errs.NotFound("user")
	}
	return u, err
}

// SystemActor is the actor of CLI commands run by an operator on the host.
func SystemActor() Actor { return Actor{Role: RoleAdmin, Name: "system", Locale: LocaleZH} }

// SetLocale changes the actor's own language (the web pages' switch).
func (s *Service) SetLocale(ctx context.Context, a Actor, locale string) error {
	if !ValidLocale(locale) {
		return errs.Field("locale", "must be zh-CN or en")
	}
	if a.UserID == 0 {
		return errs.Unauthorized("sign in first")
	}
	return s.db.Conn(ctx).Model(&User{}).Where("id = ?", a.UserID).
		Updates(map[string]any{"locale": locale, "updated_at": s.now().UTC()}).Error
}
