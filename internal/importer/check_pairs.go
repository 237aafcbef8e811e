package importer

import (
	"fmt"
	"sort"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/pairing"
)

// The 结对 sheet: pairs matched by their active pair.

// loadPairs loads the active pairs of the school couples both pair and
// agreement sheets name, and the agreements of those pairs.
func (p *plan) loadPairs(conn *gorm.DB) error {
	byKey := map[string]pairKey{}
	for _, sh := range []string{shPairs, shAgreements} {
		s := p.book.sheet(sh)
		for _, r := range s.rows {
			sup, _ := p.school(r.get(s.def.col("supporting")))
			sud, _ := p.school(r.get(s.def.col("supported")))
			if sup != nil && sud != nil && sup.id != 0 && sud.id != 0 {
				byKey[pairing.ActiveKeyOf(sup.id, sud.id)] = pairKey{sup, sud}
			}
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	byID := map[int64]*pairNode{}
	err := inChunks(keys, func(ks []string) error {
		var rows []pairing.Pair
		if err := conn.Session(&gorm.Session{NewDB: true}).Table("pairs").Where("active_key IN ?", ks).Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			k := byKey[*r.ActiveKey]
			n := &pairNode{id: r.ID, sup: k.sup, sud: k.sud, startsOn: r.StartsOn, endsOn: r.EndsOn, round: r.Round}
			p.pairs[k] = n
			byID[r.ID] = n
		}
		return nil
	})
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return inChunks(ids, func(ch []int64) error {
		var rows []pairing.Agreement
		if err := conn.Session(&gorm.Session{NewDB: true}).Table("agreements").Where("pair_id IN ?", ch).Order("id").Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		cs, err := pairing.LoadCommitments(conn, "commitments.agreement_id IN (SELECT id FROM agreements WHERE pair_id IN ?)", ch)
		if err != nil {
			return err
		}
		for _, r := range rows {
			ag := &agreementNode{id: r.ID, pair: byID[r.PairID], title: r.Title, signedOn: r.SignedOn,
				effectiveFrom: r.EffectiveFrom, effective: r.EffectiveTo}
			for _, c := range cs[r.ID] {
				ag.commitments = append(ag.commitments, &commitmentNode{id: c.ID, position: c.Position, categories: c.Categories,
					measure: c.Measure, minimum: c.Minimum, period: c.Period, description: c.Description})
			}
			p.dbAgrees[r.PairID] = append(p.dbAgrees[r.PairID], ag)
		}
		return nil
	})
}

func (p *plan) dateCell(s *parsedSheet, r row, col string) date.Date {
	d, ok := parseDate(r.get(s.def.col(col)))
	if !ok {
		p.failMsg(s, r.n, col, msg{"must be a date (an Excel date or YYYY-MM-DD)", "不是日期（应为 Excel 日期或 YYYY-MM-DD）"})
	}
	return d
}

func (p *plan) schoolCell(s *parsedSheet, r row, col string) *schoolNode {
	ref := r.get(s.def.col(col))
	if ref == "" {
		return nil // the validator says it is required
	}
	n, m := p.school(ref)
	if m != nil {
		p.failMsg(s, r.n, col, *m)
		return nil
	}
	if p.a.IsBureau() && !p.coveredSchool(n) {
		p.failMsg(s, r.n, col, msg{"this school is outside your region: a bureau imports pairs of two schools in its region",
			"该学校不在您管辖的地区内：教育局只能导入本地区两所学校之间的结对"})
	}
	return n
}

func (p *plan) checkPairs(conn *gorm.DB) error {
	s := p.book.sheet(shPairs)
	c := func(k string) int { return s.def.col(k) }
	fields := map[string]string{"supporting_school_id": "supporting", "supported_school_id": "supported", "starts_on": "starts_on", "ends_on": "ends_on", "round": "round"}
	var spanChanged []int64
	for _, r := range s.rows {
		sup, sud := p.schoolCell(s, r, "supporting"), p.schoolCell(s, r, "supported")
		in := pairing.PairInput{StartsOn: p.dateCell(s, r, "starts_on"), EndsOn: p.dateCell(s, r, "ends_on"), Round: r.get(c("round"))}
		if sup != nil {
			in.SupportingSchoolID = sup.ref()
		} else if r.get(c("supporting")) != "" {
			in.SupportingSchoolID = -1 << 40 // named but not found: reported above
		}
		if sud != nil {
			in.SupportedSchoolID = sud.ref()
		} else if r.get(c("supported")) != "" {
			in.SupportedSchoolID = -1<<40 - 1
		}
		bad := p.failDomain(s, r.n, p.im.pairs.ValidatePair(in), fields)
		if sup == nil || sud == nil || sup == sud {
			continue
		}
		k := pairKey{sup, sud}
		n := p.pairs[k]
		if n != nil && n.row != 0 {
			p.failMsg(s, r.n, "supported", msg{fmt.Sprintf("the same pair as row %d", n.row), fmt.Sprintf("与第 %d 行是同一结对", n.row)})
			continue
		}
		if n == nil {
			n = &pairNode{sup: sup, sud: sud}
			p.pairs[k] = n
		}
		n.row = r.n
		p.pairRows = append(p.pairRows, n)
		if bad {
			continue
		}
		round := in.Round
		if n.id != 0 && (n.startsOn != in.StartsOn || n.endsOn != in.EndsOn) {
			n.spanChanged = true
			spanChanged = append(spanChanged, n.id)
		}
		n.dirty = n.id != 0 && (n.spanChanged || n.round != round)
		n.startsOn, n.endsOn, n.round = in.StartsOn, in.EndsOn, round
	}
	// a span may not shrink past activities (agreements: checkAgreements)
	type span struct {
		PairID     int64
		First      date.Date
		Last       date.Date
		Activities int64
	}
	byID := make(map[int64]*pairNode, len(spanChanged))
	for _, n := range p.pairRows {
		if n.spanChanged {
			byID[n.id] = n
		}
	}
	outside := map[int64]bool{}
	err := inChunks(spanChanged, func(ids []int64) error {
		var rows []span
		if err := conn.Session(&gorm.Session{NewDB: true}).Table("activities").
			Select("pair_id, MIN(occurred_on) AS first, MAX(occurred_on) AS last, COUNT(*) AS activities").
			Where("status <> 'withdrawn' AND pair_id IN ?", ids).Group("pair_id").Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			if n := byID[r.PairID]; n != nil {
				outside[r.PairID] = r.First.Before(n.startsOn) || (!n.endsOn.IsZero() && r.Last.After(n.endsOn))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range p.pairRows {
		if outside[n.id] {
			p.failMsg(s, n.row, "starts_on", msg{"the new dates would leave logged activities outside the pair's span", "新的起止日期会使已登记的活动落在结对期限之外"})
		}
	}
	return nil
}
