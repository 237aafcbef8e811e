package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
)

// Session kinds: a bearer token of the API, or the cookie of the pages
// (which also expires after SessionIdle without a request).
const (
	KindAPI  = "api"
	KindPage = "page"
)

// sessionRow is a row of sessions: one per issued token.
type sessionRow struct {
	ID        string `gorm:"primaryKey"`
	UserID    int64
	Kind      string
	SeenMs    int64
	ExpiresMs int64
	RevokedMs *int64
	CreatedAt time.Time
}

func (sessionRow) TableName() string { return "sessions" }

// touchEvery bounds the writes of the idle clock: a session's last request
// is recorded at most once a minute.
const touchEvery = time.Minute

func ms(t time.Time) int64 { return t.UnixMilli() }

func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// startSession inserts the session row in the caller's transaction and
// signs its token. Expired sessions of the user are dropped on the way, so
// the table stays the size of the live sessions.
func (s *Service) startSession(ctx context.Context, u User, kind string, now time.Time) (Session, error) {
	id, err := newSessionID()
	if err != nil {
		return Session{}, err
	}
	tok, exp, err := s.tokens.Issue(u.ID, id, now)
	if err != nil {
		return Session{}, err
	}
	conn := s.db.Conn(ctx)
	if err := conn.Where("user_id = ? AND expires_ms < ?", u.ID, ms(now)).Delete(&sessionRow{}).Error; err != nil {
		return Session{}, err
	}
	row := sessionRow{ID: id, UserID: u.ID, Kind: kind, SeenMs: ms(now), ExpiresMs: ms(exp), CreatedAt: now.UTC()}
	if err := conn.Create(&row).Error; err != nil {
		return Session{}, err
	}
	return Session{Token: tok, ExpiresAt: exp, User: u}, nil
}

// Authenticate verifies a token and loads the actor with its session in
// one indexed read: a revoked session, a deactivated account or (for page
// sessions) SessionIdle without a request answers 401 at once, on every
// replica.
func (s *Service) Authenticate(ctx context.Context, token string) (Actor, error) {
	now := s.now()
	id, sid, err := s.tokens.Verify(token, now)
	if err != nil {
		return Actor{}, errs.Unauthorized(err.Error())
	}
	var row struct {
		User
		RegionPath string
		SKind      string
		SSeen      int64
	}
	err = s.db.Conn(ctx).Table("users").
		Select("users.*, regions.path AS region_path, sessions.kind AS s_kind, sessions.seen_ms AS s_seen").
		Joins("JOIN sessions ON sessions.user_id = users.id").
		Joins("LEFT JOIN regions ON regions.id = users.region_id").
		Where("users.id = ? AND sessions.id = ? AND sessions.revoked_ms IS NULL AND sessions.expires_ms > ?", id, sid, ms(now)).
		Take(&row).Error
	if database.IsNotFound(err) || (err == nil && !row.Active) {
		return Actor{}, errs.Unauthorized("signed out, or the account is disabled; sign in again")
	}
	if err != nil {
		return Actor{}, err
	}
	if row.SKind == KindPage && s.opt.SessionIdle > 0 && now.Sub(time.UnixMilli(row.SSeen)) > s.opt.SessionIdle {
		return Actor{}, errs.Unauthorized("the session expired after a time without use; sign in again")
	}
	if now.Sub(time.UnixMilli(row.SSeen)) > touchEvery {
		// conditional: of concurrent requests one writes
		if err := s.db.Conn(ctx).Model(&sessionRow{}).Where("id = ? AND seen_ms = ?", sid, row.SSeen).
			Update("seen_ms", ms(now)).Error; err != nil {
			return Actor{}, err
		}
	}
	a := actorOf(row.User, row.RegionPath)
	a.SessionID = sid
	return a, nil
}

func actorOf(u User, regionPath string) Actor {
	a := Actor{UserID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, Locale: u.Locale, RegionPath: regionPath}
	if u.SchoolID != nil {
		a.SchoolID = *u.SchoolID
	}
	if u.RegionID != nil {
		a.RegionID = *u.RegionID
	}
	return a
}

// Logout ends the actor's session: its token answers 401 from now on.
func (s *Service) Logout(ctx context.Context, a Actor) error {
	if a.SessionID == "" {
		return errs.Unauthorized("no session")
	}
	now := s.now()
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		if err := conn.Model(&sessionRow{}).Where("id = ? AND revoked_ms IS NULL", a.SessionID).
			Update("revoked_ms", ms(now)).Error; err != nil {
			return err
		}
		return audit.Record(ctx, conn, now, a.UserID, "auth.logout", "user", a.UserID, nil)
	})
}

// revokeSessions ends every session of the user but keep (the caller's own,
// after a password change), in the caller's transaction.
func (s *Service) revokeSessions(ctx context.Context, userID int64, keep string, now time.Time) error {
	q := s.db.Conn(ctx).Model(&sessionRow{}).Where("user_id = ? AND revoked_ms IS NULL", userID)
	if keep != "" {
		q = q.Where("id <> ?", keep)
	}
	return q.Update("revoked_ms", ms(now)).Error
}

// CSRFToken is the page session's CSRF token: an HMAC of its id, so a
// token is worth nothing in another session.
func (s *Service) CSRFToken(bind string) string { return s.tokens.Sign("csrf:" + bind) }

// StaleSessionOf is the session id of a well-signed token that no longer
// authenticates (see Tokens.SessionOf).
func (s *Service) StaleSessionOf(token string) string { return s.tokens.SessionOf(token) }
