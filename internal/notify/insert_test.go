package notify_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/notify"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// A sweep inserts the notices it planned with plain INSERTs (the form
// that takes no lock on the next key, so the parts of a reminder day do
// not wait for each other). When another sweep inserted some of those
// keys meanwhile, the statement that meets them is repeated skipping the
// existing keys: in one transaction, the others in and the existing ones
// untouched (their sweep's token, which is how each sweep reads back only
// its own notices).
func TestInsertNewSkipsKeysAnotherSweepInserted(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		at, now := date.MustParse("2026-11-16"), time.Date(2026, 11, 16, 2, 0, 0, 0, time.UTC)
		notices := func(token string, keys ...int) []notify.Notice {
			var out []notify.Notice
			for _, k := range keys {
				out = append(out, notify.Notice{Kind: notify.KindReminder, DedupeKey: fmt.Sprintf("reminder:test:%d", k),
					PeriodKey: "2026-11", AsOf: at, RunToken: token, CreatedAt: now})
			}
			return out
		}
		if err := notify.InsertNew(db.Gorm(), notices("other", 2, 5), 2); err != nil {
			t.Fatal(err)
		}
		err := db.WithTx(ctx, func(ctx context.Context) error {
			// statements of 2 rows: {1, 2} meets key 2, {3, 4} is new,
			// {5, 6} meets key 5
			return notify.InsertNew(db.Conn(ctx), notices("mine", 1, 2, 3, 4, 5, 6), 2)
		})
		if err != nil {
			t.Fatalf("insert beside existing keys: %v", err)
		}
		var rows []struct {
			DedupeKey string
			RunToken  string
		}
		if err := db.Gorm().Table("notices").Select("dedupe_key, run_token").Order("dedupe_key").Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"reminder:test:1": "mine", "reminder:test:2": "other", "reminder:test:3": "mine",
			"reminder:test:4": "mine", "reminder:test:5": "other", "reminder:test:6": "mine"}
		if len(rows) != len(want) {
			t.Fatalf("%d notices, want %d: %+v", len(rows), len(want), rows)
		}
		for _, r := range rows {
			if want[r.DedupeKey] != r.RunToken {
				t.Errorf("%s: token %q, want %q", r.DedupeKey, r.RunToken, want[r.DedupeKey])
			}
		}
	})
}
