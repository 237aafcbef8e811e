package channel

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Statuses of a post, as for mail.
const (
	StatusQueued  = "queued"
	StatusSending = "sending"
	StatusSent    = "sent"
	StatusFailed  = "failed"
)

// Message is one post to one robot.
type Message struct {
	ID            int64      `json:"id" gorm:"primaryKey"`
	RobotID       int64      `json:"robot_id"`
	Kind          string     `json:"kind"`
	Title         string     `json:"title"`
	Body          string     `json:"body"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	MaxAttempts   int        `json:"max_attempts"`
	NextAttemptAt int64      `json:"next_attempt_at"`
	LeaseUntil    int64      `json:"-"`
	LeaseToken    string     `json:"-"`
	LastError     string     `json:"last_error"`
	Reply         string     `json:"reply"`
	SentAt        *time.Time `json:"sent_at"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// TableName is the posts' table.
func (Message) TableName() string { return "channel_messages" }

// Item is one line of a batch, about something located in the regions
// whose paths are given (e.g. the two schools of a pair): every robot of
// one of those regions or of a region above them receives it.
type Item struct {
	Section string   // heading the line is listed under ("违约", "提醒"…)
	Paths   []string // region paths ("/1/5/9/") the line concerns
	Text    string   // one markdown line, without the leading "- "
	Exact   bool     // only robots of exactly these regions (a region's digest), not those above
}

// Batch is what one job found: one post per robot that any item concerns.
type Batch struct {
	Kind  string // notice kind, kept on the posts (reminder, breach, circular, digest, rectify…)
	Title string // post title (DingTalk shows it in the notification)
	Items []Item
	Link  string // where a reader acts; appended to every post
}

// maxBody keeps a post within WeCom's 4096-byte markdown limit (DingTalk
// allows more; one limit for both keeps posts alike).
const maxBody = 4000

// Robots reports whether any robot is configured (in the transaction of
// ctx, like Queue).
func (s *Service) Robots(ctx context.Context) (bool, error) {
	var ids []int64
	err := s.db.Conn(ctx).Raw("SELECT id FROM channel_robots LIMIT 1").Scan(&ids).Error
	return len(ids) > 0, err
}

// Queue inserts one post per robot concerned by the batch, in the
// transaction carried by ctx (the job's own, with its notices). A batch
// concerning no robot queues nothing.
func (s *Service) Queue(ctx context.Context, b Batch, now time.Time) (int, error) {
	if len(b.Items) == 0 {
		return 0, nil
	}
	conn := s.db.Conn(ctx)
	var robots []struct {
		ID   int64
		Path string
	}
	// robots are few (a handful per region): one query, no scan per item
	if err := conn.Raw(`SELECT r.id, g.path FROM channel_robots r JOIN regions g ON g.id = r.region_id ORDER BY r.id`).
		Scan(&robots).Error; err != nil {
		return 0, err
	}
	if len(robots) == 0 {
		return 0, nil
	}
	var msgs []Message
	at := now.UTC()
	for _, r := range robots {
		var mine []Item
		for _, it := range b.Items {
			for _, p := range it.Paths {
				if p == r.Path || !it.Exact && strings.HasPrefix(p, r.Path) {
					mine = append(mine, it)
					break
				}
			}
		}
		if len(mine) == 0 {
			continue
		}
		msgs = append(msgs, Message{RobotID: r.ID, Kind: b.Kind, Title: truncate(b.Title, 200), Body: markdown(b.Title, mine, b.Link),
			Status: StatusQueued, MaxAttempts: 8, NextAttemptAt: now.UnixMilli(), CreatedAt: at, UpdatedAt: at})
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	if err := conn.CreateInBatches(&msgs, 200).Error; err != nil {
		return 0, fmt.Errorf("channel: queue: %w", err)
	}
	return len(msgs), nil
}

// markdown lays out a post: a title, the lines under their sections in
// the order first met, and the link; cut to maxBody bytes with a count of
// what was left out.
func markdown(title string, items []Item, link string) string {
	var order []string
	bySection := map[string][]string{}
	for _, it := range items {
		if _, ok := bySection[it.Section]; !ok {
			order = append(order, it.Section)
		}
		bySection[it.Section] = append(bySection[it.Section], it.Text)
	}
	tail := ""
	if link != "" {
		tail = "\n[查看详情 / Details](" + link + ")\n"
	}
	var b strings.Builder
	b.WriteString("### " + title + "\n")
	budget := maxBody - len(tail) - 64
	left := 0
	for _, sec := range order {
		if sec != "" {
			head := "\n#### " + sec + "\n"
			if b.Len()+len(head) > budget {
				left += len(bySection[sec])
				continue
			}
			b.WriteString(head)
		}
		for _, l := range bySection[sec] {
			line := "- " + strings.ReplaceAll(l, "\n", " ") + "\n"
			if b.Len()+len(line) > budget {
				left++
				continue
			}
			b.WriteString(line)
		}
	}
	if left > 0 {
		fmt.Fprintf(&b, "\n（另有 %d 条未列出）\n", left)
	}
	b.WriteString(tail)
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Stats are a robot's posts by status and its latest error.
type Stats struct {
	Queued, Sent, Failed int64
	LastError            string
}

// StatsOf counts the posts of the robots (two grouped queries), for the
// robots' page: an operator sees failures without reading the database.
func (s *Service) StatsOf(ctx context.Context, ids []int64) (map[int64]*Stats, error) {
	out := make(map[int64]*Stats, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	for _, id := range ids {
		out[id] = &Stats{}
	}
	var rows []struct {
		RobotID int64
		Status  string
		N       int64
	}
	conn := s.db.Conn(ctx)
	if err := conn.Raw("SELECT robot_id, status, COUNT(*) AS n FROM channel_messages WHERE robot_id IN ? GROUP BY robot_id, status", ids).
		Scan(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		st := out[r.RobotID]
		switch r.Status {
		case StatusQueued, StatusSending:
			st.Queued += r.N
		case StatusSent:
			st.Sent += r.N
		case StatusFailed:
			st.Failed += r.N
		}
	}
	var errs []struct {
		RobotID   int64
		LastError string
	}
	if err := conn.Raw(`SELECT m.robot_id, m.last_error FROM channel_messages m
		WHERE m.id IN (SELECT MAX(id) FROM channel_messages WHERE robot_id IN ? AND last_error <> '' GROUP BY robot_id)`, ids).
		Scan(&errs).Error; err != nil {
		return nil, err
	}
	for _, e := range errs {
		out[e.RobotID].LastError = e.LastError
	}
	return out, nil
}
