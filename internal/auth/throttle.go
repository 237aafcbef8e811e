package auth

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/twinning-platform/twinning/internal/audit"
)

// failureRow is a failed login: per account identifier (as typed,
// normalized, whether or not an account has it) and per client address.
type failureRow struct {
	ID      int64 `gorm:"primaryKey"`
	Account string
	IP      string `gorm:"column:ip"`
	AtMs    int64
}

func (failureRow) TableName() string { return "login_failures" }

// Throttled is a 429: too many failed logins; RetryAfter says for how long.
type Throttled struct {
	RetryAfter time.Duration
	isIP       bool // the address's limit rather than the account's
}

// lockCache remembers, per replica, the lockouts the database reported,
// until they end. It is only ever a shortcut to an answer the database
// gave; it never lets through what the database would refuse. Bounded:
// when full it starts again empty.
type lockCache struct {
	mu      sync.Mutex
	account map[string]time.Time
	ip      map[string]time.Time
}

const lockCacheMax = 10000

func (c *lockCache) until(account, ip string, now time.Time) *Throttled {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.account[account]; ok && t.After(now) {
		return &Throttled{RetryAfter: t.Sub(now)}
	}
	if t, ok := c.ip[ip]; ok && t.After(now) {
		return &Throttled{RetryAfter: t.Sub(now), isIP: true}
	}
	return nil
}

func (c *lockCache) remember(account, ip string, until time.Time, isIP bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.account == nil || len(c.account)+len(c.ip) > lockCacheMax {
		c.account, c.ip = map[string]time.Time{}, map[string]time.Time{}
	}
	if isIP {
		c.ip[ip] = until
	} else {
		c.account[account] = until
	}
}

// forget drops an account's remembered lockout (a password reset).
func (c *lockCache) forget(account string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.account, account)
}

func (t *Throttled) Error() string {
	return fmt.Sprintf("too many failed sign-ins; try again in %d seconds", t.Seconds())
}

// Seconds is RetryAfter rounded up, at least 1.
func (t *Throttled) Seconds() int { return max(1, int(math.Ceil(t.RetryAfter.Seconds()))) }

// throttled answers before any password is hashed: the account has had
// LockoutFailures failures within LockoutWindow, or the address
// IPFailuresPerMinute within a minute. Both counts live in the database, so
// they hold across replicas.
func (s *Service) throttled(ctx context.Context, account, ip string, now time.Time) error {
	// a lockout this replica already saw answers without the database: a
	// flood against one account costs a map lookup per attempt
	if t := s.locks.until(account, ip, now); t != nil {
		return t
	}
	err := s.throttledDB(ctx, account, ip, now)
	if t, ok := err.(*Throttled); ok {
		s.locks.remember(account, ip, now.Add(t.RetryAfter), t.isIP)
	}
	return err
}

func (s *Service) throttledDB(ctx context.Context, account, ip string, now time.Time) error {
	conn := s.db.Conn(ctx)
	if n := s.opt.LockoutFailures; n > 0 && account != "" {
		var at []int64
		if err := conn.Model(&failureRow{}).Where("account = ? AND at_ms > ?", account, ms(now.Add(-s.opt.LockoutWindow))).
			Order("at_ms DESC").Limit(n).Pluck("at_ms", &at).Error; err != nil {
			return err
		}
		if len(at) >= n {
			return &Throttled{RetryAfter: time.UnixMilli(at[n-1]).Add(s.opt.LockoutWindow).Sub(now)}
		}
	}
	if n := s.opt.IPFailuresPerMinute; n > 0 && ip != "" {
		var at []int64
		if err := conn.Model(&failureRow{}).Where("ip = ? AND at_ms > ?", ip, ms(now.Add(-time.Minute))).
			Order("at_ms DESC").Limit(n).Pluck("at_ms", &at).Error; err != nil {
			return err
		}
		if len(at) >= n {
			return &Throttled{RetryAfter: time.UnixMilli(at[n-1]).Add(time.Minute).Sub(now), isIP: true}
		}
	}
	return nil
}

// recordFailure counts a failed login in its own transaction with its audit
// row, and the lockout when this failure is the one that starts it.
func (s *Service) recordFailure(ctx context.Context, account, ip string, userID int64, reason string, now time.Time) error {
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		if err := conn.Create(&failureRow{Account: account, IP: ip, AtMs: ms(now)}).Error; err != nil {
			return err
		}
		details := map[string]string{"login": account, "reason": reason}
		if err := audit.Record(ctx, conn, now, 0, "auth.login_failed", "user", userID, details); err != nil {
			return err
		}
		var n int64
		if err := conn.Model(&failureRow{}).Where("account = ? AND at_ms > ?", account, ms(now.Add(-s.opt.LockoutWindow))).
			Count(&n).Error; err != nil {
			return err
		}
		if s.opt.LockoutFailures > 0 && n == int64(s.opt.LockoutFailures) {
			return audit.Record(ctx, conn, now, 0, "auth.lockout", "user", userID, map[string]string{"login": account})
		}
		return nil
	})
	if err != nil {
		return err
	}
	// rows that no window looks at any more go on the way (indexed on
	// at_ms; outside the transaction, best effort: the next failure retries)
	oldest := min(ms(now.Add(-s.opt.LockoutWindow)), ms(now.Add(-time.Minute)))
	_ = s.db.Conn(ctx).Where("at_ms <= ?", oldest).Delete(&failureRow{}).Error
	return nil
}

// clearFailures forgets an account's failures after a success.
func (s *Service) clearFailures(ctx context.Context, account string) error {
	s.locks.forget(account)
	return s.db.Conn(ctx).Where("account = ?", account).Delete(&failureRow{}).Error
}
