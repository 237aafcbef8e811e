package benchdata

import (
	"slices"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/category"
)

func TestPlanIsDeterministic(t *testing.T) {
	plan := func(seed uint64) *gen {
		opt := Options{Pairs: 200, Activities: 5000, Seed: seed}
		if err := opt.defaults(); err != nil {
			t.Fatal(err)
		}
		g := newGen(opt, time.UTC)
		g.plan()
		return g
	}
	a, b, c := plan(1), plan(1), plan(2)
	if !slices.Equal(a.acts, b.acts) || len(a.commitments) != len(b.commitments) {
		t.Fatal("the same seed gave different activities")
	}
	for i := range a.commitments {
		if a.commitments[i].tpl != b.commitments[i].tpl || a.commitments[i].minimum != b.commitments[i].minimum {
			t.Fatalf("commitment %d differs between runs of the same seed", i)
		}
	}
	if slices.Equal(a.acts, c.acts) {
		t.Error("different seeds gave the same activities")
	}
	if len(a.acts) != 5000 {
		t.Errorf("%d activities planned, want 5000", len(a.acts))
	}
	// Activities are numbered in the order they were logged.
	for i := 1; i < len(a.acts); i++ {
		p, q := a.acts[i-1], a.acts[i]
		if int(p.day)+int(p.delay) > int(q.day)+int(q.delay) {
			t.Fatalf("activity %d logged before activity %d", i+1, i)
		}
	}
	// Every period kind and measure is used.
	kinds, measures := map[string]bool{}, map[string]bool{}
	for _, c := range a.commitments {
		kinds[string(c.tpl.period)] = true
		measures[c.tpl.measure] = true
	}
	if len(kinds) != 4 || len(measures) != 3 {
		t.Errorf("period kinds %v, measures %v", kinds, measures)
	}
	for _, slot := range slots {
		for _, tpl := range slot {
			if !tpl.period.Valid() {
				t.Errorf("template %q: period %q", tpl.desc, tpl.period)
			}
			for _, c := range tpl.categories {
				if !category.Valid(c) {
					t.Errorf("template %q: unknown category %q", tpl.desc, c)
				}
			}
		}
	}
	for c := range labels {
		if !category.Valid(c) {
			t.Errorf("label for unknown category %q", c)
		}
	}
}
