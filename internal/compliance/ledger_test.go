package compliance_test

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/testutil"
)

type world struct {
	a        *app.App
	pairs    []int64
	coords   map[int64]auth.Actor // pair → coordinator of the supporting school
	heads    map[int64]auth.Actor // pair → principal of the supported school
	clock    *testutil.Clock
	pairSpan [2]date.Date
	// regions: the province, two cities under it and a county under the
	// first; schools move between them (status_counts is kept per region)
	regions []int64
	schools []int64
}

// build makes three pairs with agreements covering every period kind and
// measure, on the demo calendar.
func build(t *testing.T, db *database.DB) *world {
	ctx := context.Background()
	clock := testutil.NewClock(testutil.At("2025-09-01"))
	a := testutil.NewApp(t, db, clock)
	sys := auth.SystemActor()
	for _, term := range calendar.DefaultTerms(2025, 2026) {
		if _, err := a.Terms.CreateTerm(ctx, sys, calendar.TermInput{SchoolYear: term.SchoolYear, Season: term.Season, StartsOn: term.StartsOn, EndsOn: term.EndsOn}); err != nil {
			t.Fatal(err)
		}
	}
	prov, err := a.Schools.CreateRegion(ctx, sys, school.RegionInput{Name: "省", Level: "province"})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{a: a, coords: map[int64]auth.Actor{}, heads: map[int64]auth.Actor{}, clock: clock}
	w.regions = []int64{prov.ID}
	for _, in := range []school.RegionInput{{Name: "甲市", Level: "city", ParentID: &prov.ID}, {Name: "乙市", Level: "city", ParentID: &prov.ID}} {
		r, err := a.Schools.CreateRegion(ctx, sys, in)
		if err != nil {
			t.Fatal(err)
		}
		w.regions = append(w.regions, r.ID)
	}
	county, err := a.Schools.CreateRegion(ctx, sys, school.RegionInput{Name: "丙县", Level: "county", ParentID: &w.regions[1]})
	if err != nil {
		t.Fatal(err)
	}
	w.regions = append(w.regions, county.ID)
	for i := 0; i < 3; i++ {
		sup, _ := a.Schools.CreateSchool(ctx, sys, school.SchoolInput{Name: fmt.Sprintf("支援%d", i), RegionID: prov.ID, Stage: "junior"})
		sud, _ := a.Schools.CreateSchool(ctx, sys, school.SchoolInput{Name: fmt.Sprintf("受援%d", i), RegionID: prov.ID, Stage: "junior"})
		w.schools = append(w.schools, sup.ID, sud.ID)
		p, err := a.Pairs.CreatePair(ctx, sys, pairing.PairInput{SupportingSchoolID: sup.ID, SupportedSchoolID: sud.ID,
			StartsOn: date.MustParse("2025-09-01"), EndsOn: date.MustParse("2027-08-31")})
		if err != nil {
			t.Fatal(err)
		}
		// the second pair's agreement starts mid-term: proration
		from := date.MustParse("2025-09-01")
		if i == 1 {
			from = date.MustParse("2025-10-15")
		}
		_, err = a.Pairs.CreateAgreement(ctx, sys, p.ID, pairing.AgreementInput{Title: "协议", EffectiveFrom: from, EffectiveTo: date.MustParse("2027-08-31"),
			Commitments: []pairing.CommitmentInput{
				{Categories: []string{"visit"}, Measure: "count", Minimum: decimal.FromInt(1), Period: "month"},
				{Categories: []string{"teaching_support", "lecture"}, Measure: "hours", Minimum: decimal.FromInt(10), Period: "term"},
				{Categories: []string{"secondment"}, Measure: "persons", Minimum: decimal.FromInt(1), Period: "school_year"},
				{Categories: []string{"visit", "lecture", "mentoring"}, Measure: "count", Minimum: decimal.FromInt(20), Period: "agreement"},
			}})
		if err != nil {
			t.Fatal(err)
		}
		for _, role := range []string{auth.RoleCoordinator, auth.RolePrincipal} {
			school := sup.ID
			if role == auth.RolePrincipal {
				school = sud.ID
			}
			u, err := a.Auth.CreateUser(ctx, sys, auth.UserInput{Name: role, Email: fmt.Sprintf("%s%d@t.local", role, i), Password: "password-123", Role: role, SchoolID: &school})
			if err != nil {
				t.Fatal(err)
			}
			actor, _ := a.Auth.ActorOf(ctx, u.ID)
			if role == auth.RoleCoordinator {
				w.coords[p.ID] = actor
			} else {
				w.heads[p.ID] = actor
			}
		}
		w.pairs = append(w.pairs, p.ID)
	}
	return w
}

// TestReadModelMatchesFullRecompute drives random workflows over two school
// years and checks, at many dates, that the read model kept by each
// transition equals a full rebuild and a recompute from the history.
func TestReadModelMatchesFullRecompute(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db)
		ctx := context.Background()
		rng := rand.New(rand.NewSource(7))
		cats := []string{"visit", "teaching_support", "lecture", "secondment", "mentoring", "donation"}
		var open []activity.Activity
		day := date.MustParse("2025-09-01")
		end := date.MustParse("2027-08-31")
		checks := 0
		changes := map[string]int{}
		for day.Before(end) {
			w.clock.Set(testutil.At(day.String()))
			for n := rng.Intn(3); n > 0; n-- {
				pair := w.pairs[rng.Intn(len(w.pairs))]
				// any hundredth: sums of 0.1s and 0.3s are where float64 drifts
				h, persons := decimal.D(rng.Intn(900)), 1+rng.Intn(2)
				// sometimes logged late: up to 20 days after it happened
				occurred := day.AddDays(-rng.Intn(20))
				if occurred.Before(date.MustParse("2025-09-01")) {
					occurred = day
				}
				act, _, err := w.a.Activities.Log(ctx, w.coords[pair], pair, activity.Input{Category: cats[rng.Intn(len(cats))], Title: "t",
					OccurredOn: occurred, Hours: &h, Persons: &persons}, "")
				if err != nil {
					t.Fatal(err)
				}
				open = append(open, act)
			}
			for i := 0; i < len(open); i++ {
				act := open[i]
				var err error
				switch rng.Intn(8) {
				case 0, 1, 2:
					if act.Status == activity.Pending {
						_, err = w.a.Activities.Confirm(ctx, w.heads[act.PairID], act.ID)
						open = append(open[:i], open[i+1:]...)
						i--
					}
				case 3:
					if act.Status == activity.Pending {
						act, err = w.a.Activities.Dispute(ctx, w.heads[act.PairID], act.ID, activity.DisputeInput{Reason: "no"})
						open[i] = act
					}
				case 4:
					h := decimal.D(rng.Intn(500))
					act, err = w.a.Activities.Amend(ctx, w.coords[act.PairID], act.ID, activity.Input{Category: cats[rng.Intn(len(cats))], Title: "amended", OccurredOn: act.OccurredOn, Hours: &h})
					open[i] = act
				case 5:
					_, err = w.a.Activities.Withdraw(ctx, w.coords[act.PairID], act.ID)
					open = append(open[:i], open[i+1:]...)
					i--
				}
				if err != nil {
					t.Fatalf("%s: activity %d (%s): %v", day, act.ID, act.Status, err)
				}
			}
			if rng.Intn(12) == 0 {
				changes[lifecycle(t, w, rng, day)]++
			}
			if day.Day() == 1 || day.Day() == 8 || rng.Intn(20) == 0 {
				for _, pair := range w.pairs {
					checks++
					compare(t, w, pair, day)
				}
				comparePage(t, w, day)
				compareStatus(t, w, day)
				compareDue(t, w, day)
			}
			day = day.AddDays(1 + rng.Intn(3))
		}
		before := totals(t, db)
		if err := w.a.Ledger.RebuildAll(ctx); err != nil {
			t.Fatal(err)
		}
		after := totals(t, db)
		if len(before) == 0 || len(before) != len(after) {
			t.Fatalf("read model has %d rows, a full rebuild %d", len(before), len(after))
		}
		for k, v := range after {
			if before[k] != v {
				t.Errorf("%s: incremental %v, rebuilt %v", k, before[k], v)
			}
		}
		if checks < 50 {
			t.Fatalf("only %d comparisons ran", checks)
		}
		for _, kind := range []string{"retire", "add commitment", "agreement end", "school move"} {
			if changes[kind] == 0 {
				t.Fatalf("no %s among the lifecycle changes %v", kind, changes)
			}
		}
		t.Logf("lifecycle changes: %v", changes)
	})
}

func compare(t *testing.T, w *world, pair int64, at date.Date) {
	t.Helper()
	ctx := context.Background()
	sys := auth.SystemActor()
	got, err := w.a.Compliance.Pair(ctx, sys, pair, at)
	if err != nil {
		t.Fatal(err)
	}
	want, err := w.a.Compliance.PairFromFacts(ctx, sys, pair, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != len(want.Items) || len(got.Items) == 0 {
		t.Fatalf("%s pair %d: %d items from the read model, %d from the history", at, pair, len(got.Items), len(want.Items))
	}
	for i := range got.Items {
		g, wnt := got.Items[i], want.Items[i]
		if g.PeriodKey != wnt.PeriodKey || g.Achieved != wnt.Achieved || g.Pending != wnt.Pending || g.Status != wnt.Status || g.Required != wnt.Required {
			t.Fatalf("%s pair %d commitment %d %s: read model %+v, history %+v", at, pair, g.CommitmentID, g.PeriodKey, g, wnt)
		}
	}
}

// comparePage checks that a page of the scope and its summary, read from
// the page's pairs and grouped statements, equal a full evaluation of the
// scope, for the current periods and for every term.
func comparePage(t *testing.T, w *world, at date.Date) {
	t.Helper()
	ctx := context.Background()
	sys := auth.SystemActor()
	compliance.SetFullScope(w.a.Compliance, -1) // three pairs take the province's path
	for _, term := range []string{"", "2025-2026-autumn", "2025-2026-spring", "2026-2027-autumn", "2026-2027-spring"} {
		full, summary, err := w.a.Compliance.Reports(ctx, sys, compliance.Query{At: at, Term: term})
		if err != nil {
			t.Fatal(err)
		}
		// a small scope is graded in full: the same page
		compliance.SetFullScope(w.a.Compliance, 0)
		small, err := w.a.Compliance.Scope(ctx, sys, compliance.Query{At: at, Term: term, Page: page.Page{Limit: 2, Offset: 1}})
		compliance.SetFullScope(w.a.Compliance, -1)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(small.Summary) != fmt.Sprint(summary) || small.Total != int64(len(full)) || fmt.Sprintf("%+v", small.Items) != fmt.Sprintf("%+v", full[1:3]) {
			t.Fatalf("%s term %q: small scope %+v, full evaluation %v %+v", at, term, small, summary, full[1:3])
		}
		// the summary of a large scope selects by condition, not by ids
		compliance.SetSummaryByCond(w.a.Compliance, true)
		large, err := w.a.Compliance.Scope(ctx, sys, compliance.Query{At: at, Term: term, Page: page.Page{Limit: 2, Offset: 1}})
		compliance.SetSummaryByCond(w.a.Compliance, false)
		if err != nil {
			t.Fatal(err)
		}
		pg, err := w.a.Compliance.Scope(ctx, sys, compliance.Query{At: at, Term: term, Page: page.Page{Limit: 2, Offset: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(pg.Summary) != fmt.Sprint(summary) || fmt.Sprint(large.Summary) != fmt.Sprint(summary) {
			t.Fatalf("%s term %q: summary of the page %v (large-scope path %v), of a full evaluation %v", at, term, pg.Summary, large.Summary, summary)
		}
		if pg.Total != int64(len(full)) || len(pg.Items) != 2 {
			t.Fatalf("%s term %q: total %d, %d items; full evaluation %d pairs", at, term, pg.Total, len(pg.Items), len(full))
		}
		for i, rep := range pg.Items {
			if g, wnt := fmt.Sprintf("%+v", rep), fmt.Sprintf("%+v", full[1+i]); g != wnt {
				t.Fatalf("%s term %q: page item %d\n%s\nfull evaluation\n%s", at, term, i, g, wnt)
			}
		}
		// exports stream the same reports in batches (two pairs, then one),
		// with and without a status filter
		compliance.SetEachBatch(w.a.Compliance, 2)
		for _, status := range []compliance.Status{"", compliance.AtRisk, compliance.Met} {
			want, _, err := w.a.Compliance.Reports(ctx, sys, compliance.Query{At: at, Term: term, Status: status})
			if err != nil {
				t.Fatal(err)
			}
			var got []compliance.PairReport
			started := 0
			err = w.a.Compliance.Each(ctx, sys, compliance.Query{At: at, Term: term, Status: status},
				func() error { started++; return nil },
				func(reps []compliance.PairReport) error { got = append(got, reps...); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if g, wnt := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != wnt || started != 1 {
				t.Fatalf("%s term %q status %q: streamed (started %d)\n%s\nfull evaluation\n%s", at, term, status, started, g, wnt)
			}
		}
	}
}

func totals(t *testing.T, db *database.DB) map[string]string {
	t.Helper()
	var rows []struct {
		CommitmentID      int64
		PeriodKey         string
		Achieved, Pending decimal.D
	}
	if err := db.Gorm().Table("period_totals").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		if r.Achieved == 0 && r.Pending == 0 {
			continue
		}
		out[fmt.Sprintf("%d/%s", r.CommitmentID, r.PeriodKey)] = r.Achieved.String() + "/" + r.Pending.String()
	}
	return out
}

// compareDue checks that what a sweep loads and grades (LoadDue, Undecided
// with EndsBy: periods that can be due) is exactly the full Undecided
// evaluation's items ending by EndsBy, with agreements decided through a
// few days back, weeks back, and never.
func compareDue(t *testing.T, w *world, at date.Date) {
	t.Helper()
	ctx := context.Background()
	db := w.a.DB
	defer func() {
		if err := db.Gorm().Exec("UPDATE agreements SET decided_through = NULL").Error; err != nil {
			t.Fatal(err)
		}
	}()
	for _, back := range []int{1, 9, 45, -1} {
		var err error
		if back < 0 {
			err = db.Gorm().Exec("UPDATE agreements SET decided_through = NULL").Error
		} else {
			err = db.Gorm().Exec("UPDATE agreements SET decided_through = ?", at.AddDays(-back)).Error
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, horizon := range []int{0, 14, 30} {
			opt := compliance.Options{At: at, Mode: compliance.Undecided, EndsBy: at.AddDays(horizon)}
			due, err := w.a.Compliance.LoadDue(ctx, opt, "1 = 1")
			if err != nil {
				t.Fatal(err)
			}
			got, err := w.a.Compliance.EvaluateScope(ctx, due, opt)
			if err != nil {
				t.Fatal(err)
			}
			all, err := w.a.Compliance.Load(ctx, "1 = 1")
			if err != nil {
				t.Fatal(err)
			}
			full, err := w.a.Compliance.EvaluateScope(ctx, all, compliance.Options{At: at, Mode: compliance.Undecided})
			if err != nil {
				t.Fatal(err)
			}
			line := func(it compliance.Item) string {
				return fmt.Sprintf("%d %s %s %s %s %s %d", it.CommitmentID, it.PeriodKey, it.Status, it.Required, it.Achieved, it.Pending, it.DaysLeft)
			}
			var g, want []string
			for _, rep := range got {
				for _, it := range rep.Items {
					g = append(g, line(it))
				}
			}
			for _, rep := range full {
				for _, it := range rep.Items {
					if !it.PeriodEnd.After(opt.EndsBy) {
						want = append(want, line(it))
					}
				}
			}
			if horizon == 30 && len(want) == 0 {
				t.Fatalf("%s: no item ends within 30 days, nothing compared", at)
			}
			if strings.Join(g, "\n") != strings.Join(want, "\n") {
				t.Fatalf("%s decided %d days back, ending by +%d: the sweep grades\n%s\nthe full evaluation\n%s", at, back, horizon,
					strings.Join(g, "\n"), strings.Join(want, "\n"))
			}
		}
	}
}
