package notify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/channel"
)

// RobotQueue queues posts for the group robots of the regions concerned
// (channel.Service). A sweeper without one posts nothing.
type RobotQueue interface {
	Queue(ctx context.Context, b channel.Batch, now time.Time) (int, error)
	// Robots reports whether any region has a robot: without one, a
	// reminder day's thousands of lines are not written at all.
	Robots(ctx context.Context) (bool, error)
}

// SetRobots makes the sweeper also post reminders, breaches and digests to
// the regions' group robots, in the transaction of their notices.
func (s *Sweeper) SetRobots(q RobotQueue) { s.robots = q }

// robotLocale: group robots post in the bureaus' language.
const robotLocale = "zh-CN"

// postRobots queues the robot posts of the messages a sweep or digest is
// enqueueing: one post per robot and batch, listing every new quota
// reminder and breach of the pairs in the robot's region subtree, and the
// digest of the robot's own region. Confirmation reminders stay personal.
func (s *Sweeper) postRobots(ctx context.Context, outs []*outgoing, now time.Time) error {
	if s.robots == nil || len(outs) == 0 {
		return nil
	}
	if has, err := s.robots.Robots(ctx); err != nil || !has {
		return err
	}
	base := strings.TrimRight(s.cfg.BaseURL, "/")
	seen := map[int64]bool{}     // notice ids: a notice goes to many recipients, to a robot once
	digests := map[string]bool{} // region paths with a digest
	var quota, digest []channel.Item
	for _, o := range outs {
		switch o.kind {
		case KindReminder, KindBreach:
			section := "即将到期未达标"
			if o.kind == KindBreach {
				section = "违约（周期已结束未达标）"
			}
			for _, c := range o.notices {
				if seen[c.notice.ID] || c.line.Item == nil {
					continue
				}
				seen[c.notice.ID] = true
				l := s.line(robotLocale, c.line)
				quota = append(quota, channel.Item{Section: section, Paths: []string{o.pair.supportingPath, o.pair.supportedPath},
					Text: robotLine(o.pair.supportingName+" → "+o.pair.supportedName, fmt.Sprintf("%s/pairs/%d", base, o.pair.id), l)})
			}
		case KindDigest:
			u := o.recipient
			if u.Path == "" || digests[u.Path] || o.data == nil {
				continue
			}
			digests[u.Path] = true
			for _, g := range o.data.Groups {
				for _, l := range g.Lines {
					digest = append(digest, channel.Item{Section: u.RegionName, Paths: []string{u.Path}, Exact: true,
						Text: robotLine(g.Pair.Supporting+" → "+g.Pair.Supported, g.Pair.URL, l)})
				}
			}
			if o.data.More > 0 {
				digest = append(digest, channel.Item{Section: u.RegionName, Paths: []string{u.Path}, Exact: true,
					Text: fmt.Sprintf("另有 %d 个结对，见仪表盘", o.data.More)})
			}
		}
	}
	if len(quota) > 0 {
		if _, err := s.robots.Queue(ctx, channel.Batch{Kind: "sweep", Title: "结对帮扶提醒与违约通知", Items: quota, Link: base + "/dashboard"}, now); err != nil {
			return err
		}
	}
	if len(digest) > 0 {
		if _, err := s.robots.Queue(ctx, channel.Batch{Kind: KindDigest, Title: "结对帮扶每周汇总", Items: digest, Link: base + "/dashboard"}, now); err != nil {
			return err
		}
	}
	return nil
}

// robotLine is one markdown line: the pair (linked), the commitment, the
// period and the figures.
func robotLine(pair, url string, l Line) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s](%s)：%s", mdEscape(pair), url, mdEscape(l.Commitment))
	if l.Period != "" {
		fmt.Fprintf(&b, "，%s %s", l.PeriodLabel, calendar.KeyWords(l.Period, robotLocale))
	}
	fmt.Fprintf(&b, "，%s %s / %s %s", l.RequiredLabel, l.Required, l.AchievedLabel, l.Achieved)
	if l.Pending != "" && l.Pending != "0" {
		fmt.Fprintf(&b, "（%s %s）", l.PendingLabel, l.Pending)
	}
	if l.ShowDaysLeft {
		fmt.Fprintf(&b, "，%s %d", l.DaysLeftLabel, l.DaysLeft)
	}
	return b.String()
}

// mdEscape keeps names from breaking the markdown of a post.
func mdEscape(s string) string {
	return strings.NewReplacer("[", "［", "]", "］", "(", "（", ")", "）", "*", "＊", "#", "＃", "\n", " ").Replace(s)
}
