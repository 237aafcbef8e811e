package auth

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/mail"
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
	opt    Options
	// dummy is a hash of a random password with the current parameters:
	// an unknown login is checked against it, so it costs what a known one
	// costs.
	dummy string
	// hashSlots bounds the password checks running at once (one core is
	// left for everything else): a burst of sign-ins from many addresses
	// queues here instead of starving the other requests.
	hashSlots chan struct{}
	locks     lockCache
}

// Options are the account rules of the configuration and the mail hooks.
type Options struct {
	SessionIdle         time.Duration // page sessions end after this without a request (0: never)
	InviteTTL           time.Duration // invitation links
	ResetTTL            time.Duration // password reset links
	LockoutFailures     int           // failed logins per account within LockoutWindow before 429
	LockoutWindow       time.Duration
	IPFailuresPerMinute int    // failed logins per client address per minute before 429
	BaseURL             string // links in mail
	DefaultLocale       string // mail to users who never chose a language
	// Outbox queues the invitation and reset mail in the caller's
	// transaction; Wake is called after that transaction commits so the
	// deliverer sends at once rather than at its next tick.
	Outbox Enqueuer
	Wake   func()
}

// Enqueuer is the outbox (internal/mail.Outbox).
type Enqueuer interface {
	Enqueue(ctx context.Context, msgs []*mail.Message, now time.Time) error
}

// NewService wires the service.
func NewService(db *database.DB, val *validation.Validator, dir Directory, tokens *Tokens, hasher Hasher, now func() time.Time, opt Options) (*Service, error) {
	if opt.LockoutWindow <= 0 {
		opt.LockoutWindow = 15 * time.Minute
	}
	if opt.InviteTTL <= 0 {
		opt.InviteTTL = 7 * 24 * time.Hour
	}
	if opt.ResetTTL <= 0 {
		opt.ResetTTL = time.Hour
	}
	if opt.DefaultLocale == "" {
		opt.DefaultLocale = LocaleZH
	}
	if opt.Wake == nil {
		opt.Wake = func() {}
	}
	pw, err := newSessionID()
	if err != nil {
		return nil, err
	}
	dummy, err := hasher.Hash(pw)
	if err != nil {
		return nil, err
	}
	return &Service{db: db, val: val, dir: dir, tokens: tokens, hasher: hasher, now: now, opt: opt, dummy: dummy,
		hashSlots: make(chan struct{}, max(1, runtime.NumCPU()-1))}, nil
}

// check verifies a password within a hashing slot, waiting for one no
// longer than the request may.
func (s *Service) check(ctx context.Context, hash, pw string) (ok, rehash bool, err error) {
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return false, false, ctx.Err()
	}
	defer func() { <-s.hashSlots }()
	ok, rehash = s.hasher.Check(hash, pw)
	return ok, rehash, nil
}

// LoginInput is the body of POST /auth/login. Email also takes the
// mobile number; Login is its alias.
type LoginInput struct {
	Email    string `json:"email" validate:"max=254"`
	Login    string `json:"login" validate:"max=254"`
	Password string `json:"password" validate:"required,max=1000"`
	// Kind and IP are set by the handler: a page or an API session, and the
	// client address for the throttle.
	Kind string `json:"-"`
	IP   string `json:"-"`
}

// Session is what a successful login returns.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      User      `json:"user"`
}

// Login checks the password and issues a token. The throttle answers
// before any hashing; an unknown login costs what a known one costs, and a
// wrong login and a wrong password answer alike, so accounts cannot be
// probed. A bcrypt hash (or one with older parameters) is replaced on a
// successful sign-in.
func (s *Service) Login(ctx context.Context, in LoginInput) (Session, error) {
	if in.Email == "" {
		in.Email = in.Login
	}
	if err := s.val.Validate(in); err != nil {
		return Session{}, err
	}
	if strings.TrimSpace(in.Email) == "" {
		return Session{}, errs.Field("email", "is required (an email address or a mobile number)")
	}
	now := s.now()
	login := NormalizeLogin(in.Email)
	if err := s.throttled(ctx, login, in.IP, now); err != nil {
		return Session{}, err
	}
	var u User
	q := s.db.Conn(ctx)
	if IsMobile(login) {
		q = q.Where("phone = ?", login)
	} else {
		q = q.Where("email = ?", login)
	}
	err := q.Take(&u).Error
	if err != nil && !database.IsNotFound(err) {
		return Session{}, err
	}
	hash := u.PasswordHash
	if err != nil || hash == "" {
		hash = s.dummy
	}
	// Within a hashing slot: look at the throttle again (concurrent
	// attempts queued here see the failures recorded meanwhile), hash, and
	// record a failure before the next attempt takes the slot.
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return Session{}, ctx.Err()
	}
	release := sync.OnceFunc(func() { <-s.hashSlots })
	defer release()
	if err := s.throttled(ctx, login, in.IP, now); err != nil {
		return Session{}, err
	}
	ok, rehash := s.hasher.Check(hash, in.Password)
	if !ok || err != nil || u.PasswordHash == "" || !u.Active {
		ok = false
	} else {
		release() // the success writes below need no slot
	}
	if !ok {
		reason := "wrong password"
		switch {
		case err != nil:
			reason = "unknown login"
		case u.PasswordHash == "":
			reason = "no password set"
		case !u.Active:
			reason = "account disabled"
		}
		if err := s.recordFailure(ctx, login, in.IP, u.ID, reason, now); err != nil {
			return Session{}, err
		}
		return Session{}, errs.Unauthorized("wrong email or password")
	}
	kind := in.Kind
	if kind != KindPage {
		kind = KindAPI
	}
	var sess Session
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		if err := s.clearFailures(ctx, login); err != nil {
			return err
		}
		if rehash {
			h, err := s.hasher.Hash(in.Password)
			if err != nil {
				return err
			}
			if err := conn.Model(&User{}).Where("id = ?", u.ID).Update("password_hash", h).Error; err != nil {
				return err
			}
		}
		var err error
		if sess, err = s.startSession(ctx, u, kind, now); err != nil {
			return err
		}
		return audit.Record(ctx, conn, now, u.ID, "auth.login", "user", u.ID, map[string]any{"kind": kind, "rehashed": rehash})
	})
	return sess, err
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
	return actorOf(row.User, row.RegionPath), nil
}

// UserInput creates a user. Without a password the account has none
// usable yet and the person is mailed an invitation to set one.
type UserInput struct {
	Name     string  `json:"name" validate:"required,max=100"`
	Email    string  `json:"email" validate:"required,email,max=254"`
	Phone    *string `json:"phone"`
	Password string  `json:"password" validate:"max=1000"`
	Role     string  `json:"role" validate:"required"`
	SchoolID *int64  `json:"school_id"`
	RegionID *int64  `json:"region_id"`
	Locale   string  `json:"locale"`
}

// isOperator is the actor of CLI commands, the seed and test fixtures: an
// operator on the host, whose chosen passwords get the length rules but
// not the strength check (the demo's documented passwords).
func isOperator(a Actor) bool { return a.UserID == 0 }

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
	if in.Password != "" {
		if err := CheckPassword("password", in.Password, !isOperator(a), in.Name, in.Email); err != nil {
			e, _ := errs.As(err)
			f.Add("password", e.Fields["password"])
		}
	}
	phone := checkUser(&in, f)
	if err := f.Err(); err != nil {
		return User{}, err
	}
	if a.IsBureau() && (in.Role == RoleAdmin || in.Role == RoleBureau) {
		return User{}, errs.Forbidden("a bureau may only create coordinators and principals")
	}
	hash := ""
	if in.Password != "" {
		var err error
		if hash, err = s.hasher.Hash(in.Password); err != nil {
			return User{}, err
		}
	}
	now := s.now()
	u := User{Name: strings.TrimSpace(in.Name), Email: NormalizeEmail(in.Email), Phone: phone, PasswordHash: hash, Role: in.Role,
		SchoolID: in.SchoolID, RegionID: in.RegionID, Locale: in.Locale, Active: true}
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
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
			return s.duplicateUser(ctx, a, err, 0, u.Email, u.Phone)
		}
		in.Password = "" // never into the audit log
		if err := audit.Record(ctx, conn, now, a.UserID, "user.create", "user", u.ID, in); err != nil {
			return err
		}
		if hash == "" {
			return s.InviteTx(ctx, []int64{u.ID}, now)
		}
		return nil
	})
	if err == nil && hash == "" {
		s.opt.Wake()
	}
	return u, err
}

// duplicateUser maps a unique-key violation on users. A bureau is not told
// which account holds the address or number (it may be in another region):
// one answer for every clash, whoever holds it.
func (s *Service) duplicateUser(ctx context.Context, a Actor, err error, id int64, email string, phone *string) error {
	if !database.IsDuplicate(err) {
		return err
	}
	// which unique key: SQLite's translated error does not say
	field := "phone"
	var n int64
	if email != "" {
		if err := s.db.Conn(ctx).Model(&User{}).Where("email = ? AND id <> ?", email, id).Count(&n).Error; err != nil {
			return err
		}
	}
	if n > 0 || phone == nil {
		field = "email"
	}
	if a.IsBureau() {
		return errs.Conflict("unavailable", field, "this "+field+" cannot be used for a new account; ask an administrator")
	}
	if field == "phone" {
		return errs.Conflict("duplicate_phone", "phone", "a user with this mobile number already exists")
	}
	return errs.Conflict("duplicate_email", "email", "a user with this email already exists")
}

// UserFilter narrows ListUsers.
type UserFilter struct {
	Role     string
	SchoolID int64
	Query    string // name, email or pinyin anywhere (internal/search), or part of a mobile number
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
	if t := strings.TrimSpace(f.Query); t != "" {
		// pinyin, name and email through the stored search text; a mobile
		// number by its digits
		q = q.Where("("+search.Condition(s.db.Dialect(), "search_text")+" OR phone LIKE ?)", search.Like(t), "%"+strings.Trim(t, "%_\\")+"%")
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
