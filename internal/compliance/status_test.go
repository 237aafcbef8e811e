package compliance_test

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/patch"
	"github.com/twinning-platform/twinning/internal/school"
)

// lifecycle makes one random change to what grades depend on: a
// commitment retired or restored, a commitment added, an agreement's end
// moved, a school moved to another region. Refusals (a conflict with the
// records) are part of the game.
func lifecycle(t *testing.T, w *world, rng *rand.Rand, day date.Date) string {
	t.Helper()
	ctx := context.Background()
	sys := auth.SystemActor()
	pair := w.pairs[rng.Intn(len(w.pairs))]
	ags, err := w.a.Pairs.ListAgreements(ctx, sys, pair, pageAll())
	if err != nil || len(ags.Items) == 0 {
		t.Fatalf("agreements of %d: %v", pair, err)
	}
	ag := ags.Items[rng.Intn(len(ags.Items))]
	full, err := w.a.Pairs.Agreement(ctx, sys, ag.ID)
	if err != nil {
		t.Fatal(err)
	}
	kind := rng.Intn(4)
	switch kind {
	case 0:
		c := full.Commitments[rng.Intn(len(full.Commitments))]
		in := pairing.CommitmentPatch{EndsOn: patch.Of(day.AddDays(rng.Intn(200)))}
		if rng.Intn(3) == 0 {
			in.EndsOn = patch.Null[date.Date]()
		}
		_, err = w.a.Pairs.UpdateCommitment(ctx, sys, c.ID, in)
	case 1:
		_, err = w.a.Pairs.AddCommitment(ctx, sys, ag.ID, pairing.CommitmentInput{Categories: []string{"visit", "donation"},
			Measure: "count", Minimum: decimal.FromInt(int64(1 + rng.Intn(3))), Period: []string{"month", "term", "school_year", "agreement"}[rng.Intn(4)]})
	case 2:
		to := date.MustParse("2027-08-31").AddDays(-rng.Intn(300))
		_, err = w.a.Pairs.UpdateAgreement(ctx, sys, ag.ID, pairing.AgreementPatch{EffectiveTo: patch.Of(to)})
	case 3:
		sc := w.schools[rng.Intn(len(w.schools))]
		_, err = w.a.Schools.UpdateSchool(ctx, sys, sc, school.SchoolPatch{RegionID: patch.Of(w.regions[rng.Intn(len(w.regions))])})
	}
	if err != nil {
		if e, ok := errs.As(err); !ok || (e.Kind != errs.KindInvalid && e.Kind != errs.KindConflict) {
			t.Fatalf("%s lifecycle: %v", day, err)
		}
		return ""
	}
	return []string{"retire", "add commitment", "agreement end", "school move"}[kind]
}

// compareStatus checks the status read model against a full evaluation
// from scratch, for the programme, every region and every term, at one
// date: the summary, the categories, the areas (as the dashboard files
// pairs), the trend windows; and the table itself against a rebuild from
// scratch into another table.
func compareStatus(t *testing.T, w *world, at date.Date) {
	t.Helper()
	ctx := context.Background()
	sys := auth.SystemActor()
	db := w.a.DB
	// the table kept by the transitions equals one built from scratch
	g := db.Gorm()
	if err := g.Exec("DROP TABLE IF EXISTS status_counts_check").Error; err != nil {
		t.Fatal(err)
	}
	if err := g.Exec("CREATE TABLE status_counts_check AS SELECT * FROM status_counts WHERE 1 = 0").Error; err != nil {
		t.Fatal(err)
	}
	if err := g.Exec("CREATE UNIQUE INDEX ux_status_counts_check ON status_counts_check(" + compliance.StatusKey + ")").Error; err != nil {
		t.Fatal(err)
	}
	// one statement per pair: the batches add up
	compliance.SetStatusBatch(w.a.Ledger, 1)
	defer compliance.SetStatusBatch(w.a.Ledger, 0)
	if err := w.a.Ledger.RebuildStatus(ctx, "status_counts_check"); err != nil {
		t.Fatal(err)
	}
	if kept, rebuilt := statusRows(t, w, "status_counts"), statusRows(t, w, "status_counts_check"); kept != rebuilt {
		t.Fatalf("%s: status_counts kept\n%s\nrebuilt\n%s", at, kept, rebuilt)
	}
	var regions []struct {
		ID       int64
		ParentID *int64
		Level    string
		Path     string
	}
	if err := g.Table("regions").Find(&regions).Error; err != nil {
		t.Fatal(err)
	}
	paths := map[int64]string{}
	for _, r := range regions {
		paths[r.ID] = r.Path
	}
	sc, err := w.a.Compliance.Load(ctx, "1 = 1")
	if err != nil {
		t.Fatal(err)
	}
	terms := sc.Calendar.Terms()
	for _, rid := range append([]int64{0}, w.regions...) {
		// the areas of the region's dashboard and the pair each is filed under
		prefix := "/"
		if rid != 0 {
			prefix = paths[rid]
		}
		areaOf := map[int64]int64{}
		for _, p := range sc.Pairs {
			sud, sup := sc.Regions(p.ID)
			path := paths[sud]
			if !strings.HasPrefix(path, prefix) {
				path = paths[sup]
			}
			for _, r := range regions {
				child := (rid == 0 && r.Level == "province") || (rid != 0 && r.ParentID != nil && *r.ParentID == rid)
				if child && strings.HasPrefix(path, r.Path) {
					areaOf[p.ID] = r.ID
				}
			}
		}
		// a page of a large scope walks the pairs in order: the same page,
		// by offset and after each pair id
		walkPath := strings.TrimSuffix(prefix, "/") + "/"
		listPath := prefix
		if rid == 0 {
			walkPath, listPath = "", ""
		}
		every, err := w.a.Compliance.PairIDsUnder(ctx, listPath, 0, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		for _, after := range append([]int64{0}, every...) {
			for _, off := range []int{0, 1, 2} {
				walked, err := w.a.Compliance.PageUnder(ctx, walkPath, after, off, 2)
				if err != nil {
					t.Fatal(err)
				}
				listed, err := w.a.Compliance.PairIDsUnder(ctx, listPath, after, off, 2)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(walked) != fmt.Sprint(listed) {
					t.Fatalf("region %d page after %d from %d: walked %v, listed %v", rid, after, off, walked, listed)
				}
			}
		}
		if at.Day() == 1 {
			comparePages(t, w, at, rid)
		}
		for _, term := range append([]string{""}, keys(terms)...) {
			q := compliance.Query{At: at, Term: term, RegionID: rid}
			reps, summary, err := w.a.Compliance.Reports(ctx, sys, q)
			if err != nil {
				t.Fatal(err)
			}
			v, ok, err := w.a.Compliance.View(ctx, sys, q, nil)
			if err != nil || !ok {
				t.Fatalf("view: %v %v", ok, err)
			}
			byCat, byArea := map[string]map[compliance.Status]int{}, map[int64]map[compliance.Status]int{}
			for _, rep := range reps {
				for _, it := range rep.Items {
					a := byArea[areaOf[rep.PairID]]
					if a == nil {
						a = map[compliance.Status]int{}
						byArea[areaOf[rep.PairID]] = a
					}
					a[it.Status]++
					for _, c := range it.Categories {
						if byCat[c] == nil {
							byCat[c] = map[compliance.Status]int{}
						}
						byCat[c][it.Status]++
					}
				}
			}
			if g, wnt := fmt.Sprint(v.Total), fmt.Sprint(summary); g != wnt {
				t.Fatalf("%s region %d term %q: status model %s, full evaluation %s", at, rid, term, g, wnt)
			}
			if g, wnt := counts(v.ByCategory), counts(byCat); g != wnt {
				t.Fatalf("%s region %d term %q: by category, status model %s, full evaluation %s", at, rid, term, g, wnt)
			}
			if g, wnt := counts(v.ByArea), counts(byArea); g != wnt {
				t.Fatalf("%s region %d term %q: by area, status model %s, full evaluation %s", at, rid, term, g, wnt)
			}
		}
		// the trend: one window over every term, counted per term
		if len(terms) == 0 {
			continue
		}
		var spans []compliance.Span
		for _, tm := range terms {
			spans = append(spans, compliance.Span{From: tm.StartsOn, To: tm.EndsOn})
		}
		opt := compliance.Options{At: at, Mode: compliance.Window, From: terms[0].StartsOn, To: terms[len(terms)-1].EndsOn}
		scope, _, err := w.a.Compliance.Reports(ctx, sys, compliance.Query{At: at, RegionID: rid})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int64, len(scope))
		for i, rep := range scope {
			ids[i] = rep.PairID
		}
		if len(ids) == 0 {
			continue
		}
		part, err := w.a.Compliance.Load(ctx, "pairs.id IN ?", ids)
		if err != nil {
			t.Fatal(err)
		}
		all, err := w.a.Compliance.EvaluateScope(ctx, part, opt)
		if err != nil {
			t.Fatal(err)
		}
		v, err := w.a.Compliance.StatusOf(ctx, rid, part.Calendar, opt, spans)
		if err != nil {
			t.Fatal(err)
		}
		for i, tm := range terms {
			want := map[compliance.Status]int{compliance.Met: 0, compliance.OnTrack: 0, compliance.AtRisk: 0, compliance.Breached: 0}
			for _, rep := range compliance.Within(all, tm.StartsOn, tm.EndsOn) {
				for _, it := range rep.Items {
					want[it.Status]++
				}
			}
			if g, wnt := fmt.Sprint(v.Windows[i]), fmt.Sprint(want); g != wnt {
				t.Fatalf("%s region %d trend %s: status model %s, full evaluation %s", at, rid, tm.Key(), g, wnt)
			}
		}
	}
}

func keys(terms []calendar.Term) []string {
	out := make([]string, len(terms))
	for i, t := range terms {
		out[i] = t.Key()
	}
	return out
}

// counts prints a breakdown without its all-zero entries, in key order.
func counts[K comparable, M ~map[compliance.Status]int](m map[K]M) string {
	out := map[K]map[compliance.Status]int{}
	for k, c := range m {
		row := map[compliance.Status]int{compliance.Met: 0, compliance.OnTrack: 0, compliance.AtRisk: 0, compliance.Breached: 0}
		any := false
		for st, n := range c {
			row[st] += n
			any = any || n != 0
		}
		if any {
			out[k] = row
		}
	}
	return fmt.Sprint(out)
}

// statusRows prints the rows of a status table with n <> 0, sorted.
func statusRows(t *testing.T, w *world, table string) string {
	t.Helper()
	return statusDump(t, w.a.DB, table)
}

// statusDump is statusRows for any database.
func statusDump(t *testing.T, db *database.DB, table string) string {
	t.Helper()
	rows, err := db.Gorm().Table(table).Select("scope_id, area_id, effective_from, effective_to, period, ends_on, minimum, measure, categories, sums, period_start, period_end, achieved, n").
		Where("n <> 0").Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var scope, area, n int64
		var from, to, endsOn, start, end date.Date
		var period, measure, cats string
		var sums int
		var minimum, achieved decimal.D
		if err := rows.Scan(&scope, &area, &from, &to, &period, &endsOn, &minimum, &measure, &cats, &sums, &start, &end, &achieved, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintln(scope, area, from, to, period, endsOn, minimum, measure, cats, sums, start, end, achieved, n))
	}
	sort.Strings(out)
	return strings.Join(out, "")
}

func pageAll() page.Page { return page.Page{Limit: page.MaxLimit} }
