package compliance_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/patch"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestScopePages pages regions holding some of the pairs, not in a row
// (the walk of PageUnder skips the others), all of them (the province:
// a range of the primary key) and none, on both databases.
func TestScopePages(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db)
		ctx := context.Background()
		sys := auth.SystemActor()
		// pairs 1 and 3 under the first city (3 through the county in it),
		// pair 2 under the second; every school stays under the province
		moves := map[int64]int64{w.schools[1]: w.regions[1], w.schools[2]: w.regions[2], w.schools[5]: w.regions[3]}
		for sc, region := range moves {
			if _, err := w.a.Schools.UpdateSchool(ctx, sys, sc, school.SchoolPatch{RegionID: patch.Of(region)}); err != nil {
				t.Fatal(err)
			}
		}
		for i, pair := range w.pairs {
			w.clock.Set(testutil.At("2025-10-0" + fmt.Sprint(i+1)))
			h, persons := decimal.FromInt(int64(3*i+1)), 1
			act, _, err := w.a.Activities.Log(ctx, w.coords[pair], pair, activity.Input{Category: "visit", Title: "t",
				OccurredOn: date.MustParse("2025-10-01"), Hours: &h, Persons: &persons}, "")
			if err != nil {
				t.Fatal(err)
			}
			if i != 1 {
				if _, err := w.a.Activities.Confirm(ctx, w.heads[pair], act.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, at := range []string{"2025-10-20", "2026-03-15"} {
			for _, rid := range append([]int64{0}, w.regions...) {
				comparePages(t, w, date.MustParse(at), rid)
			}
		}
	})
}

// comparePages checks that Scope's pages of a region (0: the programme),
// followed by the keyset cursor (next_after) or by offset, concatenate to
// the full evaluation's list with its summary on every page, whichever way
// the page's pairs are found: the whole scope graded, an id list
// (PairIDsUnder), the walk of the primary key (PageUnder over the region,
// or over every pair when the region holds them all).
func comparePages(t *testing.T, w *world, at date.Date, rid int64) {
	t.Helper()
	ctx := context.Background()
	sys := auth.SystemActor()
	defer compliance.SetFullScope(w.a.Compliance, 0)
	defer compliance.SetListScope(w.a.Compliance, 0)
	for _, term := range []string{"", "2026-2027-autumn"} {
		want, summary, err := w.a.Compliance.Reports(ctx, sys, compliance.Query{At: at, Term: term, RegionID: rid})
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"graded", "listed", "walked"} {
			compliance.SetFullScope(w.a.Compliance, map[bool]int{true: 0, false: -1}[mode == "graded"])
			compliance.SetListScope(w.a.Compliance, map[bool]int{true: -1, false: 0}[mode == "walked"])
			q := compliance.Query{At: at, Term: term, RegionID: rid}
			check := func(what string, rep compliance.Report) {
				t.Helper()
				if fmt.Sprint(rep.Summary) != fmt.Sprint(summary) || rep.Total != int64(len(want)) {
					t.Fatalf("%s region %d term %q %s %s: summary %v total %d; full evaluation %v, %d pairs", at, rid, term, mode, what, rep.Summary, rep.Total, summary, len(want))
				}
			}
			// by cursor, one pair a page
			var got []compliance.PairReport
			q.Page = page.Page{Limit: 1}
			for pages := 0; ; pages++ {
				if pages > len(want) {
					t.Fatalf("%s region %d term %q %s: more than %d pages", at, rid, term, mode, len(want))
				}
				rep, err := w.a.Compliance.Scope(ctx, sys, q)
				if err != nil {
					t.Fatal(err)
				}
				check(fmt.Sprintf("after %d", q.After), rep)
				got = append(got, rep.Items...)
				if rep.NextAfter == nil {
					break
				}
				q.After = *rep.NextAfter
			}
			if g, wnt := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != wnt {
				t.Fatalf("%s region %d term %q %s: pages by cursor\n%s\nfull evaluation\n%s", at, rid, term, mode, g, wnt)
			}
			// by offset, two a page; and an offset after the cursor
			got = nil
			q.After = 0
			for off := 0; off < len(want)+2; off += 2 {
				q.Page = page.Page{Limit: 2, Offset: off}
				rep, err := w.a.Compliance.Scope(ctx, sys, q)
				if err != nil {
					t.Fatal(err)
				}
				check(fmt.Sprintf("offset %d", off), rep)
				if more := off+2 < len(want); more != (rep.NextAfter != nil) {
					t.Fatalf("%s region %d term %q %s offset %d: next_after %v with %d pairs", at, rid, term, mode, off, rep.NextAfter, len(want))
				}
				got = append(got, rep.Items...)
			}
			if g, wnt := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != wnt {
				t.Fatalf("%s region %d term %q %s: pages by offset\n%s\nfull evaluation\n%s", at, rid, term, mode, g, wnt)
			}
			if len(want) > 1 {
				q.After, q.Page = want[0].PairID, page.Page{Limit: 1, Offset: 1}
				rep, err := w.a.Compliance.Scope(ctx, sys, q)
				if err != nil {
					t.Fatal(err)
				}
				if g, wnt := fmt.Sprintf("%+v", rep.Items), fmt.Sprintf("%+v", want[2:min(3, len(want))]); g != wnt {
					t.Fatalf("%s region %d term %q %s: after the first pair, offset 1\n%s\nwant\n%s", at, rid, term, mode, g, wnt)
				}
			}
		}
		// a status filter pages by cursor the same way
		for _, status := range []compliance.Status{compliance.Met, compliance.AtRisk} {
			want, _, err := w.a.Compliance.Reports(ctx, sys, compliance.Query{At: at, Term: term, RegionID: rid, Status: status})
			if err != nil {
				t.Fatal(err)
			}
			q := compliance.Query{At: at, Term: term, RegionID: rid, Status: status, Page: page.Page{Limit: 1}}
			var got []compliance.PairReport
			for pages := 0; ; pages++ {
				if pages > len(want) {
					t.Fatalf("%s region %d term %q status %s: more than %d pages", at, rid, term, status, len(want))
				}
				rep, err := w.a.Compliance.Scope(ctx, sys, q)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, rep.Items...)
				if rep.NextAfter == nil {
					break
				}
				q.After = *rep.NextAfter
			}
			if g, wnt := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != wnt {
				t.Fatalf("%s region %d term %q status %s: pages by cursor\n%s\nfull evaluation\n%s", at, rid, term, status, g, wnt)
			}
		}
	}
}
