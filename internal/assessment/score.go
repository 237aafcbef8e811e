// Package assessment computes the annual assessment (年度考核) of the
// schools taking part in twinning: a score per school and school year
// from the year's commitment periods, minus penalties for circulars and
// overdue rectifications, ranked within a region with grade bands.
//
// The formula (docs/assessment.md, and on the page):
//
//	for each period p of a commitment of a pair the school belongs to
//	(supporting or supported) that lies in the school year and has ended:
//	    f_p = min(achieved_p / required_p, 1)        (1 when required is 0)
//	    w_p = mean of the bureau's weights of the commitment's categories
//	          (default 1 each)
//	base  = 100 × Σ w_p·f_p / Σ w_p                  (equal weights if Σ w_p = 0)
//	score = max(0, base − circulars × circular_penalty − overdue × overdue_penalty)
//
// computed in exact rational arithmetic and rounded half up to two places
// only at the end. Ranks are competition ranks (1, 1, 3) by score, then
// name; the grade is the first band (highest minimum first) whose minimum
// the score reaches.
package assessment

import (
	"math/big"
	"sort"
	"strings"

	"github.com/twinning-platform/twinning/internal/decimal"
)

// Band is a grade and the lowest score that earns it.
type Band struct {
	Grade string    `json:"grade"`
	Min   decimal.D `json:"min"`
}

// Period is one commitment period behind a score (the evidence).
type Period struct {
	SchoolID     int64     `json:"school_id"`
	PairID       int64     `json:"pair_id"`
	Counterpart  string    `json:"counterpart"`
	CommitmentID int64     `json:"commitment_id"`
	Categories   []string  `json:"categories"`
	PeriodKey    string    `json:"period_key"`
	Required     decimal.D `json:"required"`
	Achieved     decimal.D `json:"achieved"`
	Weight       decimal.D `json:"weight"`
	// Fraction is f_p rounded for display (the score uses it exactly).
	Fraction decimal.D `json:"fraction"`
}

// Facts are what one school's score is computed from.
type Facts struct {
	Periods   []Period
	Circulars int // published circulars of the year naming the school
	Overdue   int // its rectifications escalated as overdue
}

// Rules are the bureau's settings.
type Rules struct {
	Weights         map[string]decimal.D
	CircularPenalty decimal.D
	OverduePenalty  decimal.D
	Bands           []Band
}

// weight is w_p: the mean weight of the categories (1 when not set).
func (r Rules) weight(cats []string) *big.Rat {
	if len(cats) == 0 {
		return big.NewRat(1, 1)
	}
	sum := new(big.Rat)
	for _, c := range cats {
		w, ok := r.Weights[c]
		if !ok {
			w = decimal.FromInt(1)
		}
		sum.Add(sum, big.NewRat(w.Hundredths(), decimal.Scale))
	}
	return sum.Quo(sum, big.NewRat(int64(len(cats)), 1))
}

// setFraction sets x to f_p, exactly, and returns it rounded for display.
func setFraction(x *big.Rat, achieved, required decimal.D) decimal.D {
	a, r := achieved.Hundredths(), required.Hundredths()
	switch {
	case r <= 0 || a >= r:
		x.SetInt64(1)
		return decimal.FromInt(1)
	case a <= 0:
		x.SetInt64(0)
		return 0
	}
	x.SetFrac64(a, r)
	// round half up to hundredths in integers: floor((200a + r) / 2r)
	return decimal.FromHundredths((200*a + r) / (2 * r))
}

// round2 rounds a non-negative rational half up to hundredths.
func round2(x *big.Rat) decimal.D {
	h := new(big.Rat).Mul(x, big.NewRat(decimal.Scale, 1))
	h.Add(h, big.NewRat(1, 2))
	q := new(big.Int).Quo(h.Num(), h.Denom()) // floor for non-negative
	return decimal.FromHundredths(q.Int64())
}

// Score computes base and score of one school's facts, and fills each
// period's weight and display fraction. Weights are computed once per set
// of categories; the sums stay exact rationals.
func (r Rules) Score(f *Facts) (base, score decimal.D) {
	type weight struct {
		exact   *big.Rat
		rounded decimal.D
	}
	cache := map[string]weight{}
	ws := make([]*big.Rat, len(f.Periods))
	num, den := new(big.Rat), new(big.Rat)
	for i := range f.Periods {
		p := &f.Periods[i]
		key := strings.Join(p.Categories, ",")
		w, ok := cache[key]
		if !ok {
			w.exact = r.weight(p.Categories)
			w.rounded = round2(w.exact)
			cache[key] = w
		}
		ws[i], p.Weight = w.exact, w.rounded
		den.Add(den, w.exact)
	}
	if den.Sign() == 0 { // every category weighted 0: weigh equally
		one := big.NewRat(1, 1)
		for i := range ws {
			ws[i] = one
		}
		den.SetInt64(int64(len(ws)))
	}
	fr, term := new(big.Rat), new(big.Rat)
	for i := range f.Periods {
		p := &f.Periods[i]
		p.Fraction = setFraction(fr, p.Achieved, p.Required)
		num.Add(num, term.Mul(ws[i], fr))
	}
	b := new(big.Rat)
	if den.Sign() > 0 {
		b.Mul(big.NewRat(100, 1), num)
		b.Quo(b, den)
	}
	s := new(big.Rat).Set(b)
	s.Sub(s, new(big.Rat).Mul(big.NewRat(int64(f.Circulars), 1), big.NewRat(r.CircularPenalty.Hundredths(), decimal.Scale)))
	s.Sub(s, new(big.Rat).Mul(big.NewRat(int64(f.Overdue), 1), big.NewRat(r.OverduePenalty.Hundredths(), decimal.Scale)))
	if s.Sign() < 0 {
		s.SetInt64(0)
	}
	return round2(b), round2(s)
}

// Grade is the first band, highest minimum first, that score reaches.
func (r Rules) Grade(score decimal.D) string {
	bands := append([]Band(nil), r.Bands...)
	sort.SliceStable(bands, func(i, j int) bool { return bands[i].Min > bands[j].Min })
	for _, b := range bands {
		if score >= b.Min {
			return b.Grade
		}
	}
	return ""
}

// Item is one school's assessment.
type Item struct {
	SchoolID   int64     `json:"school_id"`
	Name       string    `json:"name"`
	RegionID   int64     `json:"region_id"`
	RegionName string    `json:"region_name"`
	Score      decimal.D `json:"score"`
	Rank       int       `json:"rank"`
	Grade      string    `json:"grade"`
	Base       decimal.D `json:"base"`
	Periods    int       `json:"periods"`
	Circulars  int       `json:"circulars"`
	Overdue    int       `json:"overdue_rectifications"`
}

// Rank orders items by score (then name) and sets competition ranks.
func Rank(items []Item) {
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].Score != items[j].Score {
			return items[i].Score > items[j].Score
		}
		return strings.Compare(items[i].Name, items[j].Name) < 0
	})
	for i := range items {
		if i > 0 && items[i].Score == items[i-1].Score {
			items[i].Rank = items[i-1].Rank
		} else {
			items[i].Rank = i + 1
		}
	}
}

// Group is the items of one region (the schools' own regions), ranked
// within it.
type Group struct {
	RegionID   int64  `json:"region_id"`
	RegionName string `json:"region_name"`
	Items      []Item `json:"items"`
}

// ByRegion splits items by the schools' regions, each ranked on its own,
// in the order of their names.
func ByRegion(items []Item) []Group {
	idx := map[int64]int{}
	var out []Group
	for _, it := range items {
		i, ok := idx[it.RegionID]
		if !ok {
			i = len(out)
			idx[it.RegionID] = i
			out = append(out, Group{RegionID: it.RegionID, RegionName: it.RegionName})
		}
		out[i].Items = append(out[i].Items, it)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].RegionName < out[j].RegionName })
	for i := range out {
		Rank(out[i].Items)
	}
	return out
}
