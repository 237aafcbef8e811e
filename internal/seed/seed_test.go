package seed_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/seed"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestDemoWorkedExample loads the demo programme and checks DESIGN §3's
// worked example through the API, as of 2026-02-15.
func TestDemoWorkedExample(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		clock := testutil.NewClock(testutil.At("2026-02-15"))
		a := testutil.NewApp(t, db, clock)
		p, err := seed.Demo()
		if err != nil {
			t.Fatal(err)
		}
		logins, err := seed.Load(context.Background(), seed.Services{DB: a.DB, Auth: a.Auth, Schools: a.Schools, Terms: a.Terms, Pairs: a.Pairs, Activities: a.Activities}, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(logins) != len(p.Users) {
			t.Fatalf("logins %d, want %d", len(logins), len(p.Users))
		}
		if _, err := seed.Load(context.Background(), seed.Services{DB: a.DB, Auth: a.Auth, Schools: a.Schools, Terms: a.Terms, Pairs: a.Pairs, Activities: a.Activities}, p); err == nil {
			t.Fatal("a second seed into a non-empty database must fail")
		}
		api := testutil.NewAPI(t, a)
		kg := api.Login("kg1.coord@demo.local", "demo-school-2025")
		pairs := api.Must(200, api.Do("GET", "/api/v1/pairs", kg, nil)).JSON()["items"].([]any)
		if len(pairs) != 1 {
			t.Fatalf("kindergarten coordinator sees %d pairs, want 1", len(pairs))
		}
		pairID := int64(pairs[0].(map[string]any)["id"].(float64))
		rep := api.Must(200, api.Do("GET", fmt.Sprintf("/api/v1/pairs/%d/compliance?at=2026-02-15", pairID), kg, nil)).JSON()
		monthly := map[string]string{}
		var daysLeft float64
		for _, it := range rep["items"].([]any) {
			m := it.(map[string]any)
			if m["period"] == "month" {
				monthly[m["period_key"].(string)] = m["status"].(string)
				if m["period_key"] == "2026-02" {
					daysLeft = m["days_left"].(float64)
				}
			}
		}
		want := map[string]string{"2025-09": "met", "2025-10": "met", "2025-11": "breached", "2025-12": "breached", "2026-01": "breached", "2026-02": "at_risk"}
		for k, v := range want {
			if monthly[k] != v {
				t.Errorf("month %s: status %q, want %q (all: %v)", k, monthly[k], v, monthly)
			}
		}
		if len(monthly) != len(want) || daysLeft != 13 {
			t.Errorf("months %v, days left %v; want exactly %d months and 13 days left", monthly, daysLeft, len(want))
		}

		// 武汉六中 → 麻城五中, seen by the 麻城 bureau
		mc := api.Login("macheng@demo.local", "demo-bureau-2025")
		all := api.Must(200, api.Do("GET", "/api/v1/compliance?at=2026-02-15&term=2025-2026-autumn", mc, nil)).JSON()
		items := all["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("macheng bureau sees %d pairs, want 1", len(items))
		}
		found := false
		for _, it := range items[0].(map[string]any)["items"].([]any) {
			m := it.(map[string]any)
			if len(m["categories"].([]any)) == 4 && m["period_key"] == "2025-2026-autumn" {
				found = true
				if m["achieved"] != 1.0 || m["pending"] != 1.0 || m["status"] != "breached" {
					t.Errorf("teacher development autumn 2025: %v, want achieved 1 pending 1 breached", m)
				}
			}
			if m["period"] == "school_year" && m["categories"].([]any)[0] == "student_exchange" {
				if m["status"] != "on_track" || m["days_left"] != 197.0 || m["required"] != 1.0 {
					t.Errorf("student exchange 2025-2026: %v, want on_track with 197 days left", m)
				}
			}
		}
		if !found {
			t.Error("teacher development commitment missing from the term view")
		}
	})
}

// TestDemoLaidOutAroundToday: `seed --demo` on any day shows a live
// programme: the default calendar of that school year and its neighbours,
// the history shifted to the previous term, every status side by side,
// activities awaiting confirmation, and notices already queued.
func TestDemoLaidOutAroundToday(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		for _, day := range []string{"2026-11-30", "2027-04-20", "2028-09-06"} {
			t.Run(day, func(t *testing.T) {
				fresh := db
				if day != "2026-11-30" {
					fresh = freshDB(t, db)
				}
				today := date.MustParse(day)
				clock := testutil.NewClock(testutil.At(day))
				a := testutil.NewApp(t, fresh, clock)
				p, err := seed.Demo()
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				swept := false
				_, err = seed.LoadAt(ctx, seed.Services{DB: a.DB, Auth: a.Auth, Schools: a.Schools, Terms: a.Terms, Pairs: a.Pairs, Activities: a.Activities}, p,
					seed.Options{Today: today, Now: clock.Now(), Recent: true, Sweep: func(ctx context.Context, at date.Date, now time.Time) error {
						swept = true
						_, err := a.Sweeper.Sweep(ctx, at, now, false)
						return err
					}})
				if err != nil {
					t.Fatal(err)
				}
				if !swept {
					t.Error("no sweep ran")
				}
				cal, err := a.Terms.Calendar(ctx)
				if err != nil {
					t.Fatal(err)
				}
				cur, ok := cal.TermOn(today)
				if !ok || len(cal.Terms()) != 6 {
					t.Fatalf("calendar %v has no term on %s or not 6 terms", cal.Terms(), day)
				}
				api := testutil.NewAPI(t, a)
				admin := api.Login("admin@demo.local", "demo-admin-2025")
				seen := map[string]int{}
				for _, q := range []string{"", "&term=" + cur.Key()} {
					rep := api.Must(200, api.Do("GET", "/api/v1/compliance?at="+day+q, admin, nil)).JSON()
					for k, v := range rep["summary"].(map[string]any) {
						seen[k] += int(v.(float64))
					}
				}
				var pairs []int64
				for _, it := range api.Must(200, api.Do("GET", "/api/v1/pairs?limit=100", admin, nil)).JSON()["items"].([]any) {
					m := it.(map[string]any)
					pairs = append(pairs, int64(m["id"].(float64)))
					if m["starts_on"].(string) >= cur.StartsOn.String() {
						t.Errorf("pair %v starts %v, not before the current term (%s): no history", m["id"], m["starts_on"], cur.StartsOn)
					}
				}
				for _, pair := range pairs {
					rep := api.Must(200, api.Do("GET", fmt.Sprintf("/api/v1/pairs/%d/compliance?at=%s", pair, day), admin, nil)).JSON()
					for _, it := range rep["items"].([]any) {
						seen["all:"+it.(map[string]any)["status"].(string)]++
					}
				}
				for _, st := range []string{"met", "on_track", "at_risk", "breached"} {
					if seen["all:"+st] == 0 {
						t.Errorf("no %s commitment period anywhere as of %s: %v", st, day, seen)
					}
				}
				t.Logf("as of %s: %v", day, seen)
				head := api.Login("mc5.head@demo.local", "demo-school-2025")
				inbox := api.Must(200, api.Do("GET", "/api/v1/activities?to_confirm=true", head, nil)).JSON()
				if inbox["total"].(float64) < 2 {
					t.Errorf("the supported principal's inbox holds %v activities, want the recent pending ones", inbox["total"])
				}
				var notices, queued int64
				fresh.Gorm().Table("notices").Count(&notices)
				fresh.Gorm().Table("outbox_messages").Count(&queued)
				t.Logf("%d notices, %d messages queued, inbox %v", notices, queued, inbox["total"])
				if notices == 0 || queued == 0 {
					t.Errorf("%d notices, %d outbox messages after the seed's sweep", notices, queued)
				}
			})
		}
	})
}

// freshDB is another empty database of the same kind as db.
func freshDB(t *testing.T, db *database.DB) *database.DB {
	t.Helper()
	if db.Dialect() == database.MySQL {
		return testutil.MySQL(t)
	}
	return testutil.SQLite(t)
}
