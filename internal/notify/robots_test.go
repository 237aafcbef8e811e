package notify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/channel"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// robotSink stands in for DingTalk and WeCom: it checks the documented
// request (path, signature within an hour, markdown body) and records the
// accepted posts per token or key.
type robotSink struct {
	srv   *httptest.Server
	clock func() time.Time
	mu    sync.Mutex
	posts map[string][]string
	bad   []string
}

func newRobotSink(t *testing.T, clock func() time.Time, secrets map[string]string) *robotSink {
	s := &robotSink{clock: clock, posts: map[string][]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		q := r.URL.Query()
		var body struct {
			MsgType  string `json:"msgtype"`
			Markdown struct {
				Title   string `json:"title"`
				Text    string `json:"text"`
				Content string `json:"content"`
			} `json:"markdown"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.MsgType != "markdown" {
			s.bad = append(s.bad, "body")
			fmt.Fprint(w, `{"errcode":40008,"errmsg":"invalid message type"}`)
			return
		}
		switch r.URL.Path {
		case "/robot/send":
			tok := q.Get("access_token")
			ts, _ := strconv.ParseInt(q.Get("timestamp"), 10, 64)
			mac := hmac.New(sha256.New, []byte(secrets[tok]))
			mac.Write([]byte(q.Get("timestamp") + "\n" + secrets[tok]))
			d := s.clock().Sub(time.UnixMilli(ts))
			if q.Get("sign") != base64.StdEncoding.EncodeToString(mac.Sum(nil)) || d > time.Hour || d < -time.Hour || body.Markdown.Title == "" {
				s.bad = append(s.bad, "sign "+tok)
				fmt.Fprint(w, `{"errcode":310000,"errmsg":"sign not match"}`)
				return
			}
			s.posts[tok] = append(s.posts[tok], body.Markdown.Text)
		case "/cgi-bin/webhook/send":
			s.posts[q.Get("key")] = append(s.posts[q.Get("key")], body.Markdown.Content)
		default:
			s.bad = append(s.bad, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *robotSink) got(robot string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.posts[robot]...)
}

// Breaches and digests reach the group robots of the regions concerned:
// one post per robot and batch, never twice, none to an unrelated region.
func TestSweepPostsToRegionRobots(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		sink := newRobotSink(t, w.clock.Now, map[string]string{"cityTok": "SECcity"})
		robot := func(region, kind, hook, secret string) {
			t.Helper()
			if _, err := w.a.Channels.Create(w.ctx, w.sys, w.regions[region].ID, channel.RobotInput{Kind: kind, Webhook: sink.srv.URL + hook, Secret: secret}); err != nil {
				t.Fatal(err)
			}
		}
		robot("C", "dingtalk", "/robot/send?access_token=cityTok", "SECcity") // over the supported school's county
		robot("Y", "wecom", "/cgi-bin/webhook/send?key=countyY", "")          // the supporting school's county
		robot("C3", "wecom", "/cgi-bin/webhook/send?key=unrelated", "")       // nothing of this pair
		w.agreement(w.pair, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"management_exchange"}, Measure: "count", Minimum: decimal.FromInt(2), Period: "term", Description: "每学期两次管理交流"})

		w.check("2026-02-08") // the autumn term is breached
		w.check("2026-02-08")
		w.check("2026-02-09")
		for _, r := range []string{"cityTok", "countyY"} {
			posts := sink.got(r)
			if len(posts) != 1 {
				t.Fatalf("robot %s got %d posts, want 1: %q", r, len(posts), posts)
			}
			if !strings.Contains(posts[0], "违约") || !strings.Contains(posts[0], "支援一中 → 受援一小") ||
				!strings.Contains(posts[0], fmt.Sprintf("/pairs/%d)", w.pair.ID)) || !strings.Contains(posts[0], "每学期至少 2 次") {
				t.Errorf("robot %s post:\n%s", r, posts[0])
			}
		}
		if n := len(sink.got("unrelated")); n != 0 {
			t.Fatalf("an unrelated region's robot got %d posts", n)
		}

		// Monday's digest: each robot gets its own region's digest once
		for range 2 {
			if _, err := w.a.Sweeper.Digest(w.ctx, date.MustParse("2026-02-09"), w.at("2026-02-09"), false); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.a.Robots.DeliverDue(w.ctx, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{"cityTok", "countyY"} {
			posts := sink.got(r)
			if len(posts) != 2 || !strings.Contains(posts[1], "每周汇总") {
				t.Fatalf("robot %s after the digest: %q", r, posts)
			}
		}
		if !strings.Contains(sink.got("cityTok")[1], "某市") || strings.Contains(sink.got("cityTok")[1], "某省") {
			t.Errorf("the city robot's digest is not the city's: %s", sink.got("cityTok")[1])
		}
		if n := len(sink.got("unrelated")); n != 0 {
			t.Fatalf("an unrelated region's robot got %d posts", n)
		}
		if len(sink.bad) > 0 {
			t.Fatalf("the vendor stand-in refused: %v", sink.bad)
		}
	})
}
