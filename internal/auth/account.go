package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"regexp"
	"strings"
	"time"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/mail"
)

// mobileRE is an 11-digit mainland mobile number.
var mobileRE = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

// IsMobile reports whether s is an 11-digit mainland mobile number.
func IsMobile(s string) bool { return mobileRE.MatchString(s) }

// NormalizeLogin is how a typed login is compared: a mobile number with
// spaces, dashes or a +86 prefix dropped, otherwise the lower-cased email.
func NormalizeLogin(s string) string {
	s = strings.TrimSpace(s)
	digits := strings.NewReplacer(" ", "", "-", "").Replace(s)
	digits = strings.TrimPrefix(strings.TrimPrefix(digits, "+86"), "0086")
	if IsMobile(digits) {
		return digits
	}
	return NormalizeEmail(s)
}

// normalizePhone checks an optional mobile number; "" and nil are none.
func normalizePhone(p *string) (*string, string) {
	if p == nil || strings.TrimSpace(*p) == "" {
		return nil, ""
	}
	n := NormalizeLogin(*p)
	if !IsMobile(n) {
		return nil, "must be an 11-digit mainland mobile number"
	}
	return &n, ""
}

// Kinds of one-time links.
const (
	TokenInvite = "invite"
	TokenReset  = "reset"
)

// tokenRow is a one-time link: only its SHA-256 is stored.
type tokenRow struct {
	ID        int64 `gorm:"primaryKey"`
	UserID    int64
	Kind      string
	TokenHash string
	ExpiresMs int64
	UsedMs    *int64
	CreatedAt time.Time
}

func (tokenRow) TableName() string { return "account_tokens" }

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func newLinkToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// InviteTx queues an invitation for each user (a one-time link to set a
// password, valid InviteTTL) in the caller's transaction: the user rows
// and their mail commit together. Earlier unused invitations of the same
// users stop working. The caller should call WakeMail after its
// transaction commits, so the mail leaves at once. The Excel import calls
// it for the accounts it creates.
func (s *Service) InviteTx(ctx context.Context, userIDs []int64, now time.Time) error {
	if len(userIDs) == 0 {
		return nil
	}
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		var users []User
		if err := s.db.Conn(ctx).Where("id IN ?", userIDs).Find(&users).Error; err != nil {
			return err
		}
		if len(users) != len(userIDs) {
			return errs.NotFound("user")
		}
		return s.issueLinks(ctx, users, TokenInvite, now)
	})
}

// WakeMail tells the deliverer that mail was queued (after a commit).
func (s *Service) WakeMail() { s.opt.Wake() }

// issueLinks stores one token per user, voids their earlier unused ones of
// the kind, and queues the mail carrying the links.
func (s *Service) issueLinks(ctx context.Context, users []User, kind string, now time.Time) error {
	conn := s.db.Conn(ctx)
	ttl := s.opt.InviteTTL
	if kind == TokenReset {
		ttl = s.opt.ResetTTL
	}
	ids := make([]int64, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	if err := conn.Model(&tokenRow{}).Where("user_id IN ? AND kind = ? AND used_ms IS NULL", ids, kind).
		Update("used_ms", ms(now)).Error; err != nil {
		return err
	}
	rows := make([]tokenRow, len(users))
	msgs := make([]*mail.Message, len(users))
	for i, u := range users {
		tok, err := newLinkToken()
		if err != nil {
			return err
		}
		rows[i] = tokenRow{UserID: u.ID, Kind: kind, TokenHash: hashToken(tok), ExpiresMs: ms(now.Add(ttl)), CreatedAt: now.UTC()}
		msgs[i] = s.linkMail(u, kind, tok, ttl)
	}
	if err := conn.CreateInBatches(&rows, 500).Error; err != nil {
		return err
	}
	if s.opt.Outbox == nil {
		return fmt.Errorf("auth: no outbox configured for %s mail", kind)
	}
	if err := s.opt.Outbox.Enqueue(ctx, msgs, now); err != nil {
		return err
	}
	return audit.RecordEach(ctx, conn, now, 0, "auth."+kind+"_sent", "user", ids)
}

// linkMail writes the invitation or reset message in the user's language,
// or the programme's default when they never chose one.
func (s *Service) linkMail(u User, kind, tok string, ttl time.Duration) *mail.Message {
	loc := u.Locale
	if loc == "" {
		loc = s.opt.DefaultLocale
	}
	link := strings.TrimRight(s.opt.BaseURL, "/") + "/reset?token=" + tok
	var subject, body string
	switch {
	case kind == TokenInvite && loc == LocaleEN:
		subject = "Your account on the twinning platform"
		body = fmt.Sprintf("Hello %s,\n\nan account has been created for you (%s). Choose your password here within %d days:\n\n%s\n\nThe link works once.\n", u.Name, u.Email, int(ttl.Hours()/24), link)
	case kind == TokenInvite:
		subject = "结对帮扶平台账号邀请"
		body = fmt.Sprintf("%s，您好：\n\n平台已为您创建账号（%s）。请在 %d 天内通过以下链接设置密码：\n\n%s\n\n该链接只能使用一次。\n", u.Name, u.Email, int(ttl.Hours()/24), link)
	case loc == LocaleEN:
		subject = "Reset your password"
		body = fmt.Sprintf("Hello %s,\n\nsomeone asked to reset the password of %s. If it was you, choose a new one within %d minutes:\n\n%s\n\nThe link works once. If it was not you, ignore this message: your password is unchanged.\n", u.Name, u.Email, int(ttl.Minutes()), link)
	default:
		subject = "重置密码"
		body = fmt.Sprintf("%s，您好：\n\n有人申请重置账号 %s 的密码。如果是您本人，请在 %d 分钟内通过以下链接设置新密码：\n\n%s\n\n该链接只能使用一次。如果不是您本人，请忽略本邮件，密码不会改变。\n", u.Name, u.Email, int(ttl.Minutes()), link)
	}
	uid := u.ID
	return &mail.Message{Kind: kind, RecipientUserID: &uid, To: u.Email, Locale: loc, Subject: subject, BodyText: body,
		BodyHTML: "<pre style=\"font-family:sans-serif;white-space:pre-wrap\">" + html.EscapeString(body) + "</pre>"}
}

// Invite re-sends the invitation of a user in the actor's scope (an admin,
// or the bureau of the user's school).
func (s *Service) Invite(ctx context.Context, a Actor, id int64) error {
	now := s.now()
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		u, err := s.userInScope(ctx, a, id, true)
		if err != nil {
			return err
		}
		if !u.Active {
			return errs.Conflict("inactive", "", "the account is switched off; switch it on first")
		}
		if err := s.issueLinks(ctx, []User{u}, TokenInvite, now); err != nil {
			return err
		}
		return audit.Record(ctx, s.db.Conn(ctx), now, a.UserID, "user.invite", "user", u.ID, nil)
	})
	if err == nil {
		s.opt.Wake()
	}
	return err
}

// maxLiveResets bounds the reset mails of one account within ResetTTL.
const maxLiveResets = 3

// ForgotInput is the body of POST /auth/forgot.
type ForgotInput struct {
	Email string `json:"email" validate:"max=254"`
	Login string `json:"login" validate:"max=254"`
}

// Forgot mails a reset link to an active account with that email or mobile
// number. It says nothing about whether one exists: the caller answers 202
// either way. The deliverer is woken after commit.
func (s *Service) Forgot(ctx context.Context, in ForgotInput) error {
	if in.Email == "" {
		in.Email = in.Login
	}
	if err := s.val.Validate(in); err != nil {
		return err
	}
	login := NormalizeLogin(in.Email)
	if login == "" {
		return errs.Field("email", "is required")
	}
	now := s.now()
	var u User
	q := s.db.Conn(ctx)
	if IsMobile(login) {
		q = q.Where("phone = ?", login)
	} else {
		q = q.Where("email = ?", login)
	}
	err := q.Take(&u).Error
	if database.IsNotFound(err) || (err == nil && !u.Active) {
		return nil
	}
	if err != nil {
		return err
	}
	// at most maxLiveResets links alive at once per account: asking again
	// and again does not fill someone's mailbox (the answer stays 202)
	var live int64
	if err := s.db.Conn(ctx).Model(&tokenRow{}).Where("user_id = ? AND kind = ? AND expires_ms > ?", u.ID, TokenReset, ms(now)).
		Count(&live).Error; err != nil {
		return err
	}
	if live >= maxLiveResets {
		return nil
	}
	if err := s.db.WithTx(ctx, func(ctx context.Context) error { return s.issueLinks(ctx, []User{u}, TokenReset, now) }); err != nil {
		return err
	}
	s.opt.Wake()
	return nil
}

// ResetInput is the body of POST /auth/reset (invitations too).
type ResetInput struct {
	Token       string `json:"token" validate:"max=200"`
	NewPassword string `json:"new_password" validate:"max=1000"`
}

// Reset sets the password of a one-time link's user and ends every session
// of that user. A used, expired or unknown link is refused, saying which.
func (s *Service) Reset(ctx context.Context, in ResetInput) error {
	if err := s.val.Validate(in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Token) == "" {
		return errs.Field("token", "is required")
	}
	now := s.now()
	var row tokenRow
	err := s.db.Conn(ctx).Where("token_hash = ?", hashToken(in.Token)).Take(&row).Error
	if database.IsNotFound(err) {
		return errs.Field("token", "this link is not valid; ask for a new one")
	}
	if err != nil {
		return err
	}
	if row.UsedMs != nil {
		return errs.Field("token", "this link has already been used (or a newer one was sent); ask for a new one")
	}
	if row.ExpiresMs <= ms(now) {
		return errs.Field("token", "this link has expired; ask for a new one")
	}
	var u User
	if err := s.db.Conn(ctx).First(&u, row.UserID).Error; err != nil {
		return err
	}
	if !u.Active {
		return errs.Field("token", "the account is switched off")
	}
	if err := CheckPassword("new_password", in.NewPassword, true, u.Name, u.Email); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(in.NewPassword)
	if err != nil {
		return err
	}
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		// the claim: of two concurrent uses one wins
		res := conn.Model(&tokenRow{}).Where("id = ? AND used_ms IS NULL AND expires_ms > ?", row.ID, ms(now)).Update("used_ms", ms(now))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return errs.Field("token", "this link has already been used; ask for a new one")
		}
		if err := conn.Model(&User{}).Where("id = ?", u.ID).Updates(map[string]any{"password_hash": hash, "updated_at": now.UTC()}).Error; err != nil {
			return err
		}
		if err := s.revokeSessions(ctx, u.ID, "", now); err != nil {
			return err
		}
		if err := s.clearFailures(ctx, NormalizeEmail(u.Email)); err != nil {
			return err
		}
		action := "auth.password_reset"
		if row.Kind == TokenInvite {
			action = "auth.invite_accepted"
		}
		return audit.Record(ctx, conn, now, u.ID, action, "user", u.ID, nil)
	})
}

// PasswordInput is the body of POST /auth/password.
type PasswordInput struct {
	CurrentPassword string `json:"current_password" validate:"required,max=1000"`
	NewPassword     string `json:"new_password" validate:"required,max=1000"`
	IP              string `json:"-"`
}

// ChangePassword sets the actor's own password after checking the current
// one (a wrong one counts as a failed sign-in, throttled alike) and ends
// every other session of the user.
func (s *Service) ChangePassword(ctx context.Context, a Actor, in PasswordInput) error {
	if err := s.val.Validate(in); err != nil {
		return err
	}
	now := s.now()
	var u User
	if err := s.db.Conn(ctx).First(&u, a.UserID).Error; err != nil {
		if database.IsNotFound(err) {
			return errs.Unauthorized("sign in first")
		}
		return err
	}
	login := NormalizeEmail(u.Email)
	if err := s.throttled(ctx, login, in.IP, now); err != nil {
		return err
	}
	ok, _, err := s.check(ctx, u.PasswordHash, in.CurrentPassword)
	if err != nil {
		return err
	}
	if !ok {
		if err := s.recordFailure(ctx, login, in.IP, u.ID, "wrong current password", now); err != nil {
			return err
		}
		return errs.Field("current_password", "is not your current password")
	}
	if err := CheckPassword("new_password", in.NewPassword, true, u.Name, u.Email); err != nil {
		return err
	}
	if in.NewPassword == in.CurrentPassword {
		return errs.Field("new_password", "must differ from the current password")
	}
	hash, err := s.hasher.Hash(in.NewPassword)
	if err != nil {
		return err
	}
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		if err := conn.Model(&User{}).Where("id = ?", u.ID).Updates(map[string]any{"password_hash": hash, "updated_at": now.UTC()}).Error; err != nil {
			return err
		}
		if err := s.revokeSessions(ctx, u.ID, a.SessionID, now); err != nil {
			return err
		}
		if err := s.clearFailures(ctx, login); err != nil {
			return err
		}
		return audit.Record(ctx, conn, now, u.ID, "auth.password_change", "user", u.ID, nil)
	})
}

// NormalizePhone is normalizePhone for text (the workbook's 手机号 column):
// "" for none, or the mobile number as stored, or a reason it is refused.
func NormalizePhone(s string) (phone, problem string) {
	p, problem := normalizePhone(&s)
	if p == nil {
		return "", problem
	}
	return *p, ""
}

// PhonePtr is the stored form of a normalised phone: NULL for none, so the
// unique index allows any number of accounts without one.
func PhonePtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
