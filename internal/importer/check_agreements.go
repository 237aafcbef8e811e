package importer

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/pairing"
)

// The 协议指标 sheet: rows grouped into agreements, matched by title within
// their pair, commitments by position; overlaps within each pair.

func (p *plan) checkAgreements() error {
	s := p.book.sheet(shAgreements)
	c := func(k string) int { return s.def.col(k) }
	type group struct {
		ag   *agreementNode
		rows []row
	}
	type gkey struct {
		k     pairKey
		title string
	}
	groups := map[gkey]*group{}
	var order []*group
	for _, r := range s.rows {
		sup, sud := p.schoolCell(s, r, "supporting"), p.schoolCell(s, r, "supported")
		if r.get(c("supporting")) == "" {
			p.failMsg(s, r.n, "supporting", msg{"is required", "必填"})
		}
		if r.get(c("supported")) == "" {
			p.failMsg(s, r.n, "supported", msg{"is required", "必填"})
		}
		if sup == nil || sud == nil {
			continue
		}
		k := gkey{pairKey{sup, sud}, r.get(c("title"))}
		g := groups[k]
		if g == nil {
			pair := p.pairs[k.k]
			if pair == nil {
				p.failMsg(s, r.n, "supported", msg{"these two schools have no active pair: add it to the 结对 sheet", "这两所学校没有进行中的结对，请在“结对”表中添加"})
				continue
			}
			g = &group{ag: &agreementNode{pair: pair, title: k.title, inWorkbook: true}}
			groups[k] = g
			order = append(order, g)
		}
		g.rows = append(g.rows, r)
	}
	fieldCol := map[string]string{"title": "title", "signed_on": "signed_on", "effective_from": "effective_from", "effective_to": "effective_to",
		"goals": "title", "commitments": "categories", "categories": "categories", "measure": "measure", "minimum": "minimum",
		"period": "period", "description": "description"}
	for _, g := range order {
		first := g.rows[0]
		ag := g.ag
		ag.signedOn, ag.effectiveFrom, ag.effective = p.dateCell(s, first, "signed_on"), p.dateCell(s, first, "effective_from"), p.dateCell(s, first, "effective_to")
		in := pairing.AgreementInput{Title: ag.title, SignedOn: ag.signedOn, EffectiveFrom: ag.effectiveFrom, EffectiveTo: ag.effective}
		for i, r := range g.rows {
			ag.rows = append(ag.rows, r.n)
			if i > 0 {
				for _, col := range []string{"signed_on", "effective_from", "effective_to"} {
					if v := r.get(c(col)); v != "" && v != first.get(c(col)) {
						if d, ok := parseDate(v); !ok || d != p.agreementDate(ag, col) {
							p.failMsg(s, r.n, col, msg{fmt.Sprintf("differs from row %d, the agreement's first row", first.n),
								fmt.Sprintf("与该协议的第一行（第 %d 行）不一致", first.n)})
						}
					}
				}
			}
			p.enumCell(s, r, "measure", measureEnum)
			p.enumCell(s, r, "period", periodEnum)
			for _, cat := range strings.FieldsFunc(r.get(c("categories")), func(x rune) bool { return strings.ContainsRune("、,，;；\n", x) }) {
				if cat = strings.TrimSpace(cat); cat != "" && !categoryEnum.known(cat) {
					p.failMsg(s, r.n, "categories", msg{fmt.Sprintf("%q is not a category; the categories are %s", cat, categoryList(LangEN)),
						fmt.Sprintf("“%s”不是活动类别；可选：%s", cat, categoryList(LangZH))})
				}
			}
			cm := &commitmentNode{position: i, categories: splitCategories(r.get(c("categories"))), measure: measureEnum.parse(r.get(c("measure"))),
				period: periodEnum.parse(r.get(c("period"))), description: r.get(c("description")), row: r.n}
			if v := r.get(c("minimum")); v != "" {
				d, err := decimal.Parse(v)
				if err != nil {
					f, ferr := parseFloat(v)
					if ferr == nil {
						d, err = decimal.FromFloat(f)
					}
				}
				if err != nil {
					p.failMsg(s, r.n, "minimum", msg{"must be a number with at most two decimals", "应为最多两位小数的数字"})
				}
				cm.minimum = d
			}
			ag.commitments = append(ag.commitments, cm)
			in.Commitments = append(in.Commitments, pairing.CommitmentInput{Categories: cm.categories, Measure: cm.measure,
				Minimum: cm.minimum,
				Period:  cm.period, Description: cm.description})
		}
		pair := pairing.Pair{StartsOn: ag.pair.startsOn, EndsOn: ag.pair.endsOn}
		if err := p.im.pairs.ValidateAgreement(in, pair); err != nil {
			e, ok := errs.As(err)
			if !ok {
				return err
			}
			for field, m := range e.Fields {
				r, name := first.n, field
				var idx int
				if n, _ := fmt.Sscanf(field, "commitments[%d].", &idx); n == 1 && idx < len(g.rows) {
					r, name = g.rows[idx].n, field[strings.Index(field, "].")+2:]
				}
				p.fail(s, r, fieldCol[name], m)
			}
		}
		p.agreements = append(p.agreements, ag)
	}
	// match stored agreements by title within their pair; overlaps
	byPair := map[*pairNode][]*agreementNode{}
	for _, ag := range p.agreements {
		byPair[ag.pair] = append(byPair[ag.pair], ag)
	}
	for pair, list := range byPair {
		if pair.id == 0 {
			continue
		}
		for _, ag := range list {
			var match *agreementNode
			for _, old := range p.dbAgrees[pair.id] {
				if old.title == ag.title {
					if match != nil {
						p.failMsg(s, ag.rows[0], "title", msg{"two agreements of this pair have this title; rename one in the agreement page first", "该结对有两份同名协议，请先在协议页面改名"})
					}
					match = old
				}
			}
			if match == nil {
				continue
			}
			ag.id = match.id
			match.inWorkbook = true
			ag.dirty = ag.signedOn != match.signedOn || ag.effectiveFrom != match.effectiveFrom || ag.effective != match.effective
			if len(ag.commitments) < len(match.commitments) {
				p.failMsg(s, ag.rows[0], "categories", msg{fmt.Sprintf("the agreement has %d commitments and the workbook lists %d: an import does not remove commitments", len(match.commitments), len(ag.commitments)),
					fmt.Sprintf("该协议已有 %d 项指标，工作簿只列出 %d 项：导入不会删除指标", len(match.commitments), len(ag.commitments))})
				continue
			}
			for i, cm := range ag.commitments {
				if i >= len(match.commitments) {
					ag.dirty = true
					continue
				}
				old := match.commitments[i]
				cm.id = old.id
				cm.catsChanged = pairing.CategoriesColumn(cm.categories) != pairing.CategoriesColumn(old.categories)
				cm.dirty = cm.catsChanged || cm.measure != old.measure || cm.minimum != old.minimum || cm.period != old.period || cm.description != old.description
				if cm.dirty {
					ag.dirty = true
				}
			}
		}
	}
	pairSheet := p.book.sheet(shPairs)
	for _, pair := range p.pairOrder(byPair) {
		var spans []*agreementNode
		spans = append(spans, byPair[pair]...)
		if pair.id != 0 {
			for _, old := range p.dbAgrees[pair.id] {
				if !old.inWorkbook {
					spans = append(spans, old)
					if pair.spanChanged && (old.effectiveFrom.Before(pair.startsOn) || (!pair.endsOn.IsZero() && old.effective.After(pair.endsOn))) {
						p.failMsg(pairSheet, pair.row, "starts_on", msg{fmt.Sprintf("the new dates would leave the agreement %q outside the pair's span", old.title),
							fmt.Sprintf("新的起止日期会使协议“%s”落在结对期限之外", old.title)})
					}
				}
			}
		}
		sort.SliceStable(spans, func(i, j int) bool { return spans[i].effectiveFrom.Before(spans[j].effectiveFrom) })
		var reach *agreementNode // the agreement reaching furthest so far
		for _, cur := range spans {
			if cur.effectiveFrom.IsZero() || cur.effective.IsZero() {
				continue
			}
			if reach != nil && !cur.effectiveFrom.After(reach.effective) {
				at, other := cur, reach
				if len(at.rows) == 0 {
					at, other = reach, cur
				}
				if len(at.rows) > 0 {
					p.failMsg(s, at.rows[0], "effective_from", msg{fmt.Sprintf("overlaps the agreement %q (%s to %s) of the same pair", other.title, other.effectiveFrom, other.effective),
						fmt.Sprintf("与同一结对的协议“%s”（%s 至 %s）时间重叠", other.title, other.effectiveFrom, other.effective)})
				}
			}
			if reach == nil || cur.effective.After(reach.effective) {
				reach = cur
			}
		}
	}
	// pairs whose span changed keep their stored agreements inside it
	for _, pair := range p.pairRows {
		if pair.spanChanged && byPair[pair] == nil {
			for _, old := range p.dbAgrees[pair.id] {
				if old.effectiveFrom.Before(pair.startsOn) || (!pair.endsOn.IsZero() && old.effective.After(pair.endsOn)) {
					p.failMsg(pairSheet, pair.row, "starts_on", msg{fmt.Sprintf("the new dates would leave the agreement %q outside the pair's span", old.title),
						fmt.Sprintf("新的起止日期会使协议“%s”落在结对期限之外", old.title)})
				}
			}
		}
	}
	return nil
}

func parseFloat(v string) (float64, error) { return strconv.ParseFloat(strings.TrimSpace(v), 64) }

func (p *plan) agreementDate(ag *agreementNode, col string) date.Date {
	switch col {
	case "signed_on":
		return ag.signedOn
	case "effective_from":
		return ag.effectiveFrom
	}
	return ag.effective
}

// pairOrder lists the pairs of byPair in workbook order, so errors come
// out the same way each time.
func (p *plan) pairOrder(byPair map[*pairNode][]*agreementNode) []*pairNode {
	out := make([]*pairNode, 0, len(byPair))
	for k := range byPair {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return byPair[out[i]][0].rows[0] < byPair[out[j]][0].rows[0] })
	return out
}
