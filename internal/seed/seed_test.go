package seed_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
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
