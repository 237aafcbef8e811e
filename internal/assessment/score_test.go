package assessment

import (
	"testing"

	"github.com/twinning-platform/twinning/internal/decimal"
)

func d(s string) decimal.D {
	v, err := decimal.Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

func per(req, ach string, cats ...string) Period {
	return Period{Required: d(req), Achieved: d(ach), Categories: cats}
}

// Hand-computed cases of the formula in the package comment.
func TestScoreHandComputed(t *testing.T) {
	equal := DefaultRules()
	weighted := DefaultRules()
	weighted.Weights = map[string]decimal.D{"visit": d("2"), "management_exchange": d("1")}
	hours := DefaultRules()
	hours.Weights = map[string]decimal.D{"teaching_support": d("3"), "lecture": d("1")}
	hours.OverduePenalty = d("2.5")
	cases := []struct {
		name        string
		rules       Rules
		facts       Facts
		base, score string
	}{
		// one term half done, five months missed, equal weights:
		// 100 × (½ + 0×5) / 6 = 8.333… → 8.33; one circular −5 → 3.33
		{"equal", equal, Facts{Periods: []Period{per("2", "1", "management_exchange"),
			per("1", "0", "visit"), per("1", "0", "visit"), per("1", "0", "visit"), per("1", "0", "visit"), per("1", "0", "visit")}, Circulars: 1},
			"8.33", "3.33"},
		// the same with visits weighing 2: 100 × ½ / (1 + 2×5) = 4.5454… → 4.55; −5 → floored at 0
		{"weighted", weighted, Facts{Periods: []Period{per("2", "1", "management_exchange"),
			per("1", "0", "visit"), per("1", "0", "visit"), per("1", "0", "visit"), per("1", "0", "visit"), per("1", "0", "visit")}, Circulars: 1},
			"4.55", "0"},
		// hours: 7.5 of 10 with the mean weight of two categories (3+1)/2 = 2,
		// and 3 of 2 capped at 1 with weight 3: 100 × (2×0.75 + 3×1) / 5 = 90;
		// one overdue rectification −2.5 → 87.5
		{"hours", hours, Facts{Periods: []Period{per("10", "7.5", "teaching_support", "lecture"), per("2", "3", "teaching_support")}, Overdue: 1},
			"90", "87.5"},
		// half up at the third place: 100 × 1/32 = 3.125 → 3.13
		{"half up", equal, Facts{Periods: []Period{per("32", "1", "visit")}}, "3.13", "3.13"},
		// two thirds: 66.666… → 66.67
		{"thirds", equal, Facts{Periods: []Period{per("3", "2", "visit")}}, "66.67", "66.67"},
		// a prorated requirement of 0 counts as met
		{"zero required", equal, Facts{Periods: []Period{per("0", "0", "visit"), per("1", "0", "visit")}}, "50", "50"},
		// every category weighted 0: equal weights instead
		{"zero weights", Rules{Weights: map[string]decimal.D{"visit": 0}}, Facts{Periods: []Period{per("1", "1", "visit"), per("1", "0", "visit")}}, "50", "50"},
		// fractions exact where floats are not: 0.1 + 0.2 of 0.3 hours, twice
		{"exact", equal, Facts{Periods: []Period{per("0.3", "0.3", "visit"), per("0.7", "0.1", "visit")}}, "57.14", "57.14"},
	}
	for _, c := range cases {
		f := c.facts
		base, score := c.rules.Score(&f)
		if base.String() != c.base || score.String() != c.score {
			t.Errorf("%s: base %s score %s, want %s and %s", c.name, base, score, c.base, c.score)
		}
	}
}

func TestGradesAndRanks(t *testing.T) {
	r := DefaultRules()
	for score, want := range map[string]string{"100": "优秀", "90": "优秀", "89.99": "良好", "80": "良好", "60": "合格", "59.99": "不合格", "0": "不合格"} {
		if got := r.Grade(d(score)); got != want {
			t.Errorf("grade of %s: %s, want %s", score, got, want)
		}
	}
	items := []Item{{Name: "丙", Score: d("85")}, {Name: "甲", Score: d("90")}, {Name: "乙", Score: d("85")}, {Name: "丁", Score: d("70")}}
	Rank(items)
	want := []struct {
		name string
		rank int
	}{{"甲", 1}, {"丙", 2}, {"乙", 2}, {"丁", 4}}
	for i, w := range want {
		if items[i].Name != w.name || items[i].Rank != w.rank {
			t.Fatalf("ranks %+v", items)
		}
	}
	groups := ByRegion([]Item{{Name: "a", RegionID: 2, RegionName: "红安县", Score: d("50")}, {Name: "b", RegionID: 1, RegionName: "麻城市", Score: d("40")},
		{Name: "c", RegionID: 2, RegionName: "红安县", Score: d("60")}})
	if len(groups) != 2 || groups[0].Items[0].Name != "c" || groups[0].Items[0].Rank != 1 || groups[0].Items[1].Rank != 2 || groups[1].Items[0].Rank != 1 {
		t.Fatalf("groups %+v", groups)
	}
}

// BenchmarkScore: one school with a school year of 12 monthly and 2
// termly periods for 20 pairs (280 periods), weighted.
func BenchmarkScore(b *testing.B) {
	r := DefaultRules()
	r.Weights = map[string]decimal.D{"visit": d("2"), "lecture": d("1.5")}
	var ps []Period
	for i := range 280 {
		ps = append(ps, per("3", decimal.FromHundredths(int64(i*7%400)).String(), "visit", "lecture"))
	}
	b.ReportAllocs()
	for b.Loop() {
		f := Facts{Periods: ps, Circulars: 1, Overdue: 1}
		r.Score(&f)
	}
}
