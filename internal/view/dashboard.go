package view

import (
	"math"
	"slices"
	"sort"

	"github.com/twinning-platform/twinning/internal/category"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/decimal"
)

// Statuses in the order charts and legends show them.
var Statuses = []compliance.Status{compliance.Met, compliance.OnTrack, compliance.AtRisk, compliance.Breached}

// StatusColors are the chart colours of Statuses (the pages use the same
// in app.css); every status is also written out in text.
var StatusColors = []string{"#1b7f3b", "#1f5fa8", "#b35900", "#b3261e"}

// Counts are items (commitment × period) by status.
type Counts struct {
	Met, OnTrack, AtRisk, Breached, Total int
}

func (c *Counts) add(s compliance.Status) {
	switch s {
	case compliance.Met:
		c.Met++
	case compliance.OnTrack:
		c.OnTrack++
	case compliance.AtRisk:
		c.AtRisk++
	case compliance.Breached:
		c.Breached++
	}
	c.Total++
}

// MetPct is the share of met items, in whole percent.
func (c Counts) MetPct() int { return pct(c.Met, c.Total) }

// BreachedPct is the share of breached items, in whole percent.
func (c Counts) BreachedPct() int { return pct(c.Breached, c.Total) }

func pct(n, of int) int {
	if of == 0 {
		return 0
	}
	return int(math.Round(float64(n) * 100 / float64(of)))
}

// Area is a sub-region of the region the dashboard shows.
type Area struct {
	ID   int64
	Name string
}

// TrendInput is the scope's evaluation for one term.
type TrendInput struct {
	Term    string
	Reports []compliance.PairReport
}

// DashboardInput is what the dashboard is computed from: the scope's
// evaluation for the chosen term, where each pair sits, and the other
// terms for the trend.
type DashboardInput struct {
	Reports []compliance.PairReport
	// PairArea gives each pair's sub-region (0: none of Areas).
	PairArea map[int64]int64
	Areas    []Area
	// OwnArea labels pairs in no sub-region (schools directly in the region).
	OwnArea string
	Trend   []TrendInput
	// MaxRows caps the heat map and the breach list.
	MaxRows int
}

// Row is one bar of a breakdown.
type Row struct {
	Key   string
	Label string
	ID    int64
	// Link drills down (a sub-region's dashboard); set by the caller.
	Link string
	Counts
}

// TrendPoint is one term of the trend.
type TrendPoint struct {
	Term string
	Counts
}

// HeatCell is the worst status of a pair's commitments of one category.
type HeatCell struct {
	Category string
	Status   compliance.Status // "" when no commitment covers the category
	Items    int
}

// HeatRow is one pair of the heat map.
type HeatRow struct {
	PairID int64
	// Link drills down into an area's dashboard (a heat map of areas).
	Link    string
	Name    string
	Worst   compliance.Status
	Counts  Counts
	Cells   []HeatCell
	AreaID  int64
	Pending decimal.D
}

// BreachRow is one breached commitment period.
type BreachRow struct {
	PairID int64
	Pair   string
	Item   compliance.Item
}

// Dashboard is the bureau dashboard's view model.
type Dashboard struct {
	Pairs      int
	KPI        Counts
	ByCategory []Row
	ByArea     []Row
	Trend      []TrendPoint
	HeatCats   []string
	Heat       []HeatRow
	HeatTotal  int
	Breaches   []BreachRow
	// BreachTotal counts every breached item, also those past MaxRows.
	BreachTotal int
	// Aggregated: built from the status read model (a large scope), so
	// the heat map shows areas, and breaches are listed one by one only
	// on an area's dashboard.
	Aggregated bool
}

// CountsInput is a large scope's dashboard from the status read model:
// counts only, in proportion to the areas and categories shown.
type CountsInput struct {
	Pairs      int
	Total      compliance.StatusCounts
	ByCategory map[string]compliance.StatusCounts
	ByArea     map[int64]compliance.StatusCounts
	Cells      map[int64]map[string]compliance.StatusCounts
	Areas      []Area
	// AreaLinks are the drill-down links of Areas, by id.
	AreaLinks map[int64]string
	OwnArea   string
	// Trend: one point per term.
	Trend []TrendCounts
}

// TrendCounts is one term of a trend from the status read model.
type TrendCounts struct {
	Term   string
	Counts compliance.StatusCounts
}

func countsOf(m compliance.StatusCounts) Counts {
	c := Counts{Met: m[compliance.Met], OnTrack: m[compliance.OnTrack], AtRisk: m[compliance.AtRisk], Breached: m[compliance.Breached]}
	c.Total = c.Met + c.OnTrack + c.AtRisk + c.Breached
	return c
}

func worstOf(c Counts) compliance.Status {
	switch {
	case c.Breached > 0:
		return compliance.Breached
	case c.AtRisk > 0:
		return compliance.AtRisk
	case c.OnTrack > 0:
		return compliance.OnTrack
	case c.Met > 0:
		return compliance.Met
	}
	return ""
}

// BuildDashboardCounts is BuildDashboard for a large scope: the same KPI,
// breakdowns and trend, a heat map of areas × categories (worst areas
// first), and the breach count without the list.
func BuildDashboardCounts(in CountsInput) Dashboard {
	d := Dashboard{Pairs: in.Pairs, KPI: countsOf(in.Total), Aggregated: true}
	d.BreachTotal = d.KPI.Breached
	var used []string
	for _, c := range category.All() {
		if m, ok := in.ByCategory[c]; ok {
			if cc := countsOf(m); cc.Total > 0 {
				used = append(used, c)
				d.ByCategory = append(d.ByCategory, Row{Key: c, Counts: cc})
			}
		}
	}
	d.HeatCats = used
	heatRow := func(id int64, name string) (HeatRow, bool) {
		c := countsOf(in.ByArea[id])
		if c.Total == 0 {
			return HeatRow{}, false
		}
		row := HeatRow{Name: name, AreaID: id, Counts: c, Worst: worstOf(c), Link: in.AreaLinks[id]}
		for _, cat := range used {
			cc := countsOf(in.Cells[id][cat])
			row.Cells = append(row.Cells, HeatCell{Category: cat, Status: worstOf(cc), Items: cc.Total})
		}
		return row, true
	}
	for _, a := range in.Areas {
		if row, ok := heatRow(a.ID, a.Name); ok {
			d.ByArea = append(d.ByArea, Row{Key: "area", Label: a.Name, ID: a.ID, Counts: row.Counts})
			d.Heat = append(d.Heat, row)
		}
	}
	if row, ok := heatRow(0, in.OwnArea); ok && len(in.Areas) > 0 {
		d.ByArea = append(d.ByArea, Row{Key: "own", Label: in.OwnArea, Counts: row.Counts})
		d.Heat = append(d.Heat, row)
	}
	sort.SliceStable(d.Heat, func(i, j int) bool {
		a, b := d.Heat[i], d.Heat[j]
		if a.Counts.Breached != b.Counts.Breached {
			return a.Counts.Breached > b.Counts.Breached
		}
		return rank(a.Worst) > rank(b.Worst)
	})
	d.HeatTotal = len(d.Heat)
	for _, t := range in.Trend {
		d.Trend = append(d.Trend, TrendPoint{Term: t.Term, Counts: countsOf(t.Counts)})
	}
	return d
}

// PairName is "supporting → supported".
func PairName(r compliance.PairReport) string {
	return r.SupportingSchool.Name + " → " + r.SupportedSchool.Name
}

func rank(s compliance.Status) int {
	switch s {
	case compliance.Breached:
		return 4
	case compliance.AtRisk:
		return 3
	case compliance.OnTrack:
		return 2
	case compliance.Met:
		return 1
	}
	return 0
}

// BuildDashboard aggregates the evaluation: KPI counts, the breakdowns by
// category (an item counts under each of its commitment's categories) and
// by sub-region, the trend, the pairs × categories heat map and the
// breach list. It is pure: the same input gives the same page.
func BuildDashboard(in DashboardInput) Dashboard {
	d := Dashboard{Pairs: len(in.Reports)}
	if in.MaxRows <= 0 {
		in.MaxRows = 200
	}
	// Categories are a fixed list: index arrays instead of maps, since a
	// province is ten thousand pairs.
	codes := category.All()
	index := make(map[string]int, len(codes))
	for i, c := range codes {
		index[c] = i
	}
	byCat := make([]Counts, len(codes))
	used := make([]bool, len(codes))
	byArea := map[int64]*Counts{}
	// every row's cells, one per category, in one backing array
	all := make([]HeatCell, len(in.Reports)*len(codes))
	for ri, rep := range in.Reports {
		row := HeatRow{PairID: rep.PairID, Name: PairName(rep), AreaID: in.PairArea[rep.PairID]}
		cells := all[ri*len(codes) : (ri+1)*len(codes)]
		ac := byArea[row.AreaID]
		if ac == nil {
			ac = &Counts{}
			byArea[row.AreaID] = ac
		}
		for _, it := range rep.Items {
			d.KPI.add(it.Status)
			ac.add(it.Status)
			row.Counts.add(it.Status)
			row.Pending += it.Pending
			if rank(it.Status) > rank(row.Worst) {
				row.Worst = it.Status
			}
			for _, c := range it.Categories {
				k, ok := index[c]
				if !ok {
					continue
				}
				used[k] = true
				byCat[k].add(it.Status)
				cells[k].Items++
				if rank(it.Status) > rank(cells[k].Status) {
					cells[k].Status = it.Status
				}
			}
			if it.Status == compliance.Breached {
				d.BreachTotal++
				d.Breaches = append(d.Breaches, BreachRow{PairID: rep.PairID, Pair: row.Name, Item: it})
			}
		}
		row.Cells = cells // narrowed to the used categories below, for the rows shown
		d.Heat = append(d.Heat, row)
	}
	var usedIdx []int
	for k, c := range codes {
		if used[k] {
			usedIdx = append(usedIdx, k)
			d.HeatCats = append(d.HeatCats, c)
			d.ByCategory = append(d.ByCategory, Row{Key: c, Counts: byCat[k]})
		}
	}
	for _, a := range in.Areas {
		if c, ok := byArea[a.ID]; ok {
			d.ByArea = append(d.ByArea, Row{Key: "area", Label: a.Name, ID: a.ID, Counts: *c})
		}
	}
	if c, ok := byArea[0]; ok && c.Total > 0 && len(in.Areas) > 0 {
		d.ByArea = append(d.ByArea, Row{Key: "own", Label: in.OwnArea, Counts: *c})
	}
	// worst pairs first, then by id
	sort.SliceStable(d.Heat, func(i, j int) bool {
		a, b := d.Heat[i], d.Heat[j]
		if a.Counts.Breached != b.Counts.Breached {
			return a.Counts.Breached > b.Counts.Breached
		}
		if rank(a.Worst) != rank(b.Worst) {
			return rank(a.Worst) > rank(b.Worst)
		}
		return a.PairID < b.PairID
	})
	d.HeatTotal = len(d.Heat)
	if len(d.Heat) > in.MaxRows {
		d.Heat = d.Heat[:in.MaxRows]
	}
	for i := range d.Heat {
		cells := make([]HeatCell, len(usedIdx))
		for j, k := range usedIdx {
			cells[j] = d.Heat[i].Cells[k]
			cells[j].Category = codes[k]
		}
		d.Heat[i].Cells = cells
	}
	// latest periods first
	sort.SliceStable(d.Breaches, func(i, j int) bool {
		a, b := d.Breaches[i].Item, d.Breaches[j].Item
		if c := b.PeriodEnd.Compare(a.PeriodEnd); c != 0 {
			return c < 0
		}
		return d.Breaches[i].PairID < d.Breaches[j].PairID
	})
	if len(d.Breaches) > in.MaxRows {
		d.Breaches = d.Breaches[:in.MaxRows]
	}
	for _, t := range in.Trend {
		p := TrendPoint{Term: t.Term}
		for _, rep := range t.Reports {
			for _, it := range rep.Items {
				p.add(it.Status)
			}
		}
		d.Trend = append(d.Trend, p)
	}
	return d
}

// Chart is the data of one ECharts chart, with labels already translated;
// app.js turns it into options.
type Chart struct {
	Kind   string        `json:"kind"` // "bar" (stacked, horizontal) or "line"
	Labels []string      `json:"labels"`
	Links  []string      `json:"links,omitempty"`
	Series []ChartSeries `json:"series"`
	Unit   string        `json:"unit,omitempty"`
}

// ChartSeries is one series of a Chart.
type ChartSeries struct {
	Name  string    `json:"name"`
	Color string    `json:"color"`
	Data  []float64 `json:"data"`
}

// StatusBars is a stacked bar chart of rows by status.
func StatusBars(p *Page, rows []Row, links []string) Chart {
	ch := Chart{Kind: "bar", Links: links}
	series := make([]ChartSeries, len(Statuses))
	for i, s := range Statuses {
		series[i] = ChartSeries{Name: p.Status(s), Color: StatusColors[i]}
	}
	for _, r := range rows {
		ch.Labels = append(ch.Labels, r.Label)
		for i, v := range []int{r.Met, r.OnTrack, r.AtRisk, r.Breached} {
			series[i].Data = append(series[i].Data, float64(v))
		}
	}
	ch.Series = series
	return ch
}

// TrendLines is the line chart of the share met and breached per term.
func TrendLines(p *Page, points []TrendPoint) Chart {
	ch := Chart{Kind: "line", Unit: "%"}
	met := ChartSeries{Name: p.T("dash.trend_met"), Color: StatusColors[0]}
	br := ChartSeries{Name: p.T("dash.trend_breached"), Color: StatusColors[3]}
	for _, t := range points {
		ch.Labels = append(ch.Labels, p.Term(t.Term))
		met.Data = append(met.Data, float64(t.MetPct()))
		br.Data = append(br.Data, float64(t.BreachedPct()))
	}
	ch.Series = []ChartSeries{met, br}
	return ch
}

// StatusClass is the CSS class of a status (colour plus an icon in text).
func StatusClass(s compliance.Status) string {
	if slices.Contains(Statuses, s) {
		return "st-" + string(s)
	}
	return "st-none"
}
