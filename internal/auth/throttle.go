package auth

import (
	"context"
	"fmt"
	"math"
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
type Throttled struct{ RetryAfter time.Duration }

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
			return &Throttled{RetryAfter: time.UnixMilli(at[n-1]).Add(time.Minute).Sub(now)}
		}
	}
	return nil
}

// recordFailure counts a failed login in its own transaction with its audit
// row, and the lockout when this failure is the one that starts it.
func (s *Service) recordFailure(ctx context.Context, account, ip string, userID int64, reason string, now time.Time) error {
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		// rows that no window looks at any more go on the way
		if err := conn.Where("account = ? AND at_ms <= ?", account, ms(now.Add(-s.opt.LockoutWindow))).Delete(&failureRow{}).Error; err != nil {
			return err
		}
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
}

// clearFailures forgets an account's failures after a success.
func (s *Service) clearFailures(ctx context.Context, account string) error {
	return s.db.Conn(ctx).Where("account = ?", account).Delete(&failureRow{}).Error
}
