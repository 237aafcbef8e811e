package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/date"
)

// maxDigestPairs keeps a province's digest readable; the rest is counted
// and linked to the dashboard.
const maxDigestPairs = 30

// ISOWeek is the digest's week key of d, e.g. "2026-W48".
func ISOWeek(d date.Date) string {
	y, w := d.Time().ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// Digest queues, for every bureau user, one message listing the at-risk
// commitments of the current periods and the breaches recorded in the last
// seven days in its region subtree (dedupe key digest:<user>:<iso-week>).
// A bureau with nothing to report gets no mail.
func (s *Sweeper) Digest(ctx context.Context, at date.Date, now time.Time, dryRun bool) (Result, error) {
	res := Result{AsOf: at, Notices: map[string]int{}}
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		sc, err := s.reader.Load(ctx, "pairs.status = ?", "active")
		if err != nil {
			return err
		}
		reports, err := s.reader.EvaluateScope(ctx, sc, compliance.Options{At: at, Mode: compliance.Current})
		if err != nil {
			return err
		}
		var breaches []Breach
		if err := s.db.Conn(ctx).Where("recorded_on > ? AND recorded_on <= ?", at.AddDays(-7), at).Order("pair_id, id").Find(&breaches).Error; err != nil {
			return err
		}
		lines := map[int64][]compliance.Item{}
		var ids []int64
		note := func(id int64) {
			if _, ok := lines[id]; !ok {
				ids = append(ids, id)
				lines[id] = nil
			}
		}
		for _, rep := range reports {
			for _, it := range rep.Items {
				if it.Status == compliance.AtRisk {
					note(it.PairID)
					lines[it.PairID] = append(lines[it.PairID], it)
				}
			}
		}
		// the current item of each commitment describes it in words
		byCommitment := map[int64]compliance.Item{}
		for _, rep := range reports {
			for _, it := range rep.Items {
				byCommitment[it.CommitmentID] = it
			}
		}
		for _, b := range breaches {
			note(b.PairID)
			it := byCommitment[b.CommitmentID]
			it.PairID, it.CommitmentID, it.PeriodKey, it.PeriodStart, it.PeriodEnd = b.PairID, b.CommitmentID, b.PeriodKey, b.PeriodStart, b.PeriodEnd
			it.Required, it.Achieved, it.Pending, it.Status, it.DaysLeft = b.Required, b.Achieved, b.Pending, compliance.Breached, -1
			lines[b.PairID] = append(lines[b.PairID], it)
		}
		dir, err := loadDirectory(ctx, s.db, ids)
		if err != nil {
			return err
		}
		week := ISOWeek(at)
		var cands []candidate
		perUser := map[string]*outgoing{}
		for _, u := range dir.bureauAll {
			loc := u.locale()
			data := &Data{Recipient: u.Name, AsOf: at.String(), Region: u.RegionName, Footer: s.footer(loc),
				DashboardURL: strings.TrimRight(s.cfg.BaseURL, "/") + "/dashboard"}
			for _, id := range ids {
				p := dir.pairs[id]
				if p == nil || !(strings.HasPrefix(p.supportingPath, u.Path) || strings.HasPrefix(p.supportedPath, u.Path)) {
					continue
				}
				g := Group{Pair: s.pairRef(p)}
				for i := range lines[id] {
					it := lines[id][i]
					if it.Status == compliance.Breached {
						data.NewBreaches++
					} else {
						data.AtRisk++
					}
					g.Lines = append(g.Lines, s.line(loc, lineSource{Item: &it}))
				}
				if len(data.Groups) < maxDigestPairs {
					data.Groups = append(data.Groups, g)
				} else {
					data.More++
				}
			}
			if len(data.Groups) == 0 {
				continue
			}
			key := fmt.Sprintf("digest:%d:%s", u.ID, week)
			cands = append(cands, candidate{notice: Notice{Kind: KindDigest, DedupeKey: key, UserID: ptr(u.ID), PeriodKey: week}})
			perUser[key] = &outgoing{kind: KindDigest, recipient: u, data: data}
		}
		fresh, err := s.insertNotices(ctx, cands, at, now, newToken())
		if err != nil {
			return err
		}
		var outs []*outgoing
		for _, c := range fresh {
			o := perUser[c.notice.DedupeKey]
			o.notices = []candidate{c}
			outs = append(outs, o)
			res.Notices[KindDigest]++
		}
		if res.Messages, err = s.enqueue(ctx, outs, now); err != nil {
			return err
		}
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	return res, err
}
