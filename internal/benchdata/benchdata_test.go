package benchdata_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/benchdata"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

func TestGenerateSmallProgramme(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		a := testutil.NewApp(t, db, testutil.NewClock(testutil.At("2027-03-15")))
		opt := benchdata.Options{Pairs: 40, Activities: 3000, Cities: 2, CountiesPerCity: 2,
			Derive: a.Ledger.RebuildAll, Derived: []string{"period_totals"}}
		res, err := benchdata.Generate(ctx, db, opt)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, c := range res.Counts {
			got[c.Table] = c.Rows
		}
		// 1 province + 2 cities + 4 counties; 2 supporting schools per city
		// (20 pairs, 10 each) + 40 supported; admin + 7 bureaus + 2 per school.
		want := map[string]int64{"regions": 7, "schools": 44, "users": 1 + 7 + 88, "terms": 6, "pairs": 40,
			"agreements": 40, "commitments": 240, "activities": 3000}
		for table, n := range want {
			if got[table] != n {
				t.Errorf("%s: %d rows, want %d", table, got[table], n)
			}
		}
		if got["period_totals"] == 0 {
			t.Error("the read model was not derived")
		}
		if res.ByStatus["confirmed"]+res.ByStatus["pending"]+res.ByStatus["disputed"]+res.ByStatus["withdrawn"] != 3000 {
			t.Errorf("statuses: %v", res.ByStatus)
		}
		if res.LateLogs == 0 {
			t.Error("no activity logged after the grace period: the no-back-filling rule is not exercised")
		}

		// Region paths are "/<province>/<city>/<county>/" by id.
		var regions []struct {
			ID       int64
			ParentID *int64
			Path     string
		}
		if err := db.Gorm().Raw("SELECT id, parent_id, path FROM regions ORDER BY id").Scan(&regions).Error; err != nil {
			t.Fatal(err)
		}
		paths := map[int64]string{}
		for _, r := range regions {
			want := fmt.Sprintf("/%d/", r.ID)
			if r.ParentID != nil {
				want = paths[*r.ParentID] + fmt.Sprintf("%d/", r.ID)
			}
			if r.Path != want {
				t.Errorf("region %d: path %q, want %q", r.ID, r.Path, want)
			}
			paths[r.ID] = r.Path
		}

		// Every bureau sees its share through the API, with activity counted.
		api := testutil.NewAPI(t, a)
		for email, pairs := range map[string]float64{
			benchdata.CountyBureauEmail(2, 1): 10, benchdata.CityBureauEmail(1): 20, benchdata.ProvinceBureauEmail(): 40,
		} {
			tok := api.Login(email, benchdata.DefaultPassword)
			body := api.Must(200, api.Do("GET", "/api/v1/compliance?at=2027-03-15&limit=100", tok, nil)).JSON()
			if body["total"] != pairs {
				t.Errorf("%s sees %v pairs, want %v", email, body["total"], pairs)
			}
			summary, _ := body["summary"].(map[string]any)
			if met, _ := summary["met"].(float64); met == 0 {
				t.Errorf("%s: nothing met in %v", email, summary)
			}
		}
		for _, email := range []string{res.Logins["supported principal"], res.Logins["admin"]} {
			api.Login(email, benchdata.DefaultPassword)
		}
		// The services keep working on top: explicit ids left the
		// auto-increment counters past the generated rows.
		coord := api.Login(res.Logins["coordinator"], benchdata.DefaultPassword)
		created := api.Must(201, api.Do("POST", "/api/v1/pairs/1/activities", coord, map[string]any{
			"category": "visit", "title": "after generation", "occurred_on": "2027-03-10", "hours": 2, "persons": 1}))
		if created.ID() <= 3000 {
			t.Errorf("new activity got id %d, inside the generated range", created.ID())
		}

		if _, err := benchdata.Generate(ctx, db, opt); err == nil || !strings.Contains(err.Error(), "already has") {
			t.Errorf("a second run into the same database: %v, want a refusal", err)
		}
	})
}
