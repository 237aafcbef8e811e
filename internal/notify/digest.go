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

// digestLookBackWeeks bounds how far back a digest looks for the previous
// one: breaches recorded while the service was down for longer are not
// listed.
const digestLookBackWeeks = 8

// ISOWeek is the digest's week key of d, e.g. "2026-W48".
func ISOWeek(d date.Date) string {
	y, w := d.Time().ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// mondayOf is the Monday of d's ISO week.
func mondayOf(d date.Date) date.Date { return d.AddDays(-(int(d.Time().Weekday()) + 6) % 7) }

// Digest queues, for every bureau user, one message listing the at-risk
// commitments of the current periods and the new breaches in its region
// subtree (dedupe key digest:<user>:<iso-week>). New breaches are those
// recorded from the Monday of the week of the user's previous digest (of
// the week before, without one) up to the Sunday before this week's
// Monday: each breach is told exactly once whatever the hour of the sweep
// that records it on a Monday, and a digest caught up after days or weeks
// (up to digestLookBackWeeks) of downtime leaves none out. A bureau with
// nothing to report gets no mail.
func (s *Sweeper) Digest(ctx context.Context, at date.Date, now time.Time, dryRun bool) (Result, error) {
	var res Result
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		res = Result{AsOf: at, Notices: map[string]int{}} // per attempt, as in Sweep
		sc, err := s.reader.Load(ctx, "pairs.status = ?", "active")
		if err != nil {
			return err
		}
		reports, err := s.reader.EvaluateScope(ctx, sc, compliance.Options{At: at, Mode: compliance.Current})
		if err != nil {
			return err
		}
		monday := mondayOf(at)
		conn := s.db.Conn(ctx)
		// each bureau user's window starts at the Monday of the week of its
		// previous digest (digest notices are those without a pair: the
		// index on (pair_id, kind) finds them)
		var prev []struct {
			UserID int64
			AsOf   date.Date
		}
		if err := conn.Table("notices").Select("user_id, MAX(as_of) AS as_of").
			Where("pair_id IS NULL AND kind = ? AND as_of >= ? AND as_of < ?", KindDigest, monday.AddDays(-7*digestLookBackWeeks), monday).
			Group("user_id").Scan(&prev).Error; err != nil {
			return err
		}
		since := map[int64]date.Date{}
		earliest := monday.AddDays(-7)
		for _, p := range prev {
			since[p.UserID] = mondayOf(p.AsOf)
			earliest = date.Min(earliest, since[p.UserID])
		}
		var breaches []Breach
		if err := conn.Where("recorded_on >= ? AND recorded_on < ?", earliest, monday).Order("pair_id, id").Find(&breaches).Error; err != nil {
			return err
		}
		lines := map[int64][]compliance.Item{}
		recorded := map[int64][]date.Date{} // per pair, parallel to lines: when a breach line was recorded
		var ids []int64
		note := func(id int64) {
			if _, ok := lines[id]; !ok {
				ids = append(ids, id)
				lines[id] = nil
			}
		}
		add := func(it compliance.Item, on date.Date) {
			lines[it.PairID] = append(lines[it.PairID], it)
			recorded[it.PairID] = append(recorded[it.PairID], on)
		}
		for _, rep := range reports {
			for _, it := range rep.Items {
				if it.Status == compliance.AtRisk {
					note(it.PairID)
					add(it, date.Date{})
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
			add(it, b.RecordedOn)
		}
		dir, err := loadDirectory(ctx, s.db, ids, nil, nil, s.beside)
		if err != nil {
			return err
		}
		week := ISOWeek(at)
		var cands []candidate
		perUser := map[string]*outgoing{}
		for _, u := range dir.bureauAll {
			loc := u.locale()
			from, ok := since[u.ID]
			if !ok {
				from = monday.AddDays(-7)
			}
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
						if recorded[id][i].Before(from) {
							continue // told in an earlier digest
						}
						data.NewBreaches++
					} else {
						data.AtRisk++
					}
					g.Lines = append(g.Lines, s.line(loc, lineSource{Item: &it}))
				}
				if len(g.Lines) == 0 {
					continue
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
			perUser[key] = &outgoing{kind: KindDigest, recipient: u, data: data, group: -1}
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
	if err != nil {
		return Result{AsOf: at, Notices: map[string]int{}}, err
	}
	return res, nil
}
