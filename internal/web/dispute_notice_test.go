package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

type historyJSON struct {
	History []struct {
		Action   string                    `json:"action"`
		At       string                    `json:"at"`
		UserID   *int64                    `json:"user_id"`
		UserName string                    `json:"user_name"`
		Reason   string                    `json:"reason"`
		Changes  map[string]map[string]any `json:"changes"`
	} `json:"history"`
}

// TestDisputeClosesTheLoop: a dispute tells the logger (notice
// disputed:<activity>:<n> and a mail that reaches a real SMTP server), the
// amendment tells the principal who disputed (amended:<activity>:<n>), a
// second round counts n = 2, and the activity's history says who did what
// and when, with the reason and what changed.
func TestDisputeClosesTheLoop(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		clock := testutil.NewClock(testutil.At(today))
		sink := startMailSink(t)
		p := newProgrammeOn(t, db, clock, accountsApp(t, db, clock, sink))
		id := p.mustLog(p.supportingCoord, "visit", "十月实地指导", "2026-10-15")
		dispute := func(reason string) {
			t.Helper()
			p.api.Must(200, p.api.Do("POST", p.path("/api/v1/activities/%d/dispute", id), p.supportedPrin.Token, map[string]any{"reason": reason}))
		}
		notices := func(kind string) int64 { return p.count("notices", "kind = ? AND activity_id = ?", kind, id) }

		dispute("日期与签到表不符")
		msg := sink.waitFor(t, p.supportingCoord.Email, fmt.Sprintf("/activities/%d", id))
		if !strings.Contains(msg, "Subject:") {
			t.Errorf("no subject in %s", msg)
		}
		if n := p.count("notices", "kind = ? AND dedupe_key = ? AND user_id = ?", "disputed", fmt.Sprintf("disputed:%d:1", id), p.supportingCoord.ID); n != 1 {
			t.Errorf("%d disputed notices for the logger, want 1", n)
		}
		if n := p.count("message_notices"); n < 1 {
			t.Error("the dispute mail is not tied to its notice")
		}

		// amending answers the dispute: the principal is told
		p.api.Must(200, p.api.Do("PATCH", p.path("/api/v1/activities/%d", id), p.supportingCoord.Token, map[string]any{"occurred_on": "2026-10-16", "location": "麻城五中"}))
		sink.waitFor(t, p.supportedPrin.Email, fmt.Sprintf("/activities/%d", id))
		if n := p.count("notices", "dedupe_key = ? AND user_id = ?", fmt.Sprintf("amended:%d:1", id), p.supportedPrin.ID); n != 1 {
			t.Errorf("%d amended notices for the principal, want 1", n)
		}
		// amending a pending (not disputed) activity tells nobody
		p.api.Must(200, p.api.Do("PATCH", p.path("/api/v1/activities/%d", id), p.supportingCoord.Token, map[string]any{"title": "十月实地指导（一）"}))
		if n := notices("amended"); n != 1 {
			t.Errorf("%d amended notices after a second amendment of a pending activity, want 1", n)
		}

		// a second round: n = 2
		dispute("人数有误")
		p.api.Must(200, p.api.Do("PATCH", p.path("/api/v1/activities/%d", id), p.supportingCoord.Token, map[string]any{"persons": 3}))
		if n := p.count("notices", "dedupe_key IN ?", []string{fmt.Sprintf("disputed:%d:2", id), fmt.Sprintf("amended:%d:2", id)}); n != 2 {
			t.Errorf("second round: %d notices, want 2", n)
		}
		p.api.Must(200, p.api.Do("POST", p.path("/api/v1/activities/%d/confirm", id), p.supportedPrin.Token, nil))

		// the in-app list: each side sees its notices, newest first, linked to the activity
		var mine struct {
			Items []struct {
				ID     int64  `json:"id"`
				Kind   string `json:"kind"`
				Title  string `json:"title"`
				Link   string `json:"link"`
				Unread bool   `json:"unread"`
			} `json:"items"`
			Unread int64 `json:"unread"`
		}
		mustDecode(t, p.api.Must(200, p.api.Do("GET", "/api/v1/me/notifications", p.supportingCoord.Token, nil)), &mine)
		if len(mine.Items) != 2 || mine.Unread != 2 || mine.Items[0].Kind != "disputed" || mine.Items[0].ID <= mine.Items[1].ID ||
			mine.Items[0].Link != fmt.Sprintf("/activities/%d", id) || !mine.Items[0].Unread || mine.Items[0].Title == "" {
			t.Errorf("logger's notifications: %+v", mine)
		}
		p.api.Must(204, p.api.Do("POST", "/api/v1/me/notifications/seen", p.supportingCoord.Token, nil))
		mustDecode(t, p.api.Must(200, p.api.Do("GET", "/api/v1/me/notifications", p.supportingCoord.Token, nil)), &mine)
		if mine.Unread != 0 || mine.Items[0].Unread {
			t.Errorf("after seen: %+v", mine)
		}
		mustDecode(t, p.api.Must(200, p.api.Do("GET", "/api/v1/me/notifications", p.supportedPrin.Token, nil)), &mine)
		if mine.Unread != 2 || len(mine.Items) != 2 || mine.Items[0].Kind != "amended" {
			t.Errorf("principal's notifications: %+v", mine)
		}
		mustDecode(t, p.api.Must(200, p.api.Do("GET", "/api/v1/me/notifications", p.farCoord.Token, nil)), &mine)
		if mine.Unread != 0 || len(mine.Items) != 0 {
			t.Errorf("an outsider's notifications: %+v", mine)
		}

		var h historyJSON
		mustDecode(t, p.api.Must(200, p.api.Do("GET", p.path("/api/v1/activities/%d", id), p.supportingCoord.Token, nil)), &h)
		var got []string
		for _, e := range h.History {
			got = append(got, e.Action)
		}
		if w := "logged,disputed,amended,amended,disputed,amended,confirmed"; strings.Join(got, ",") != w {
			t.Fatalf("history %s, want %s", strings.Join(got, ","), w)
		}
		if e := h.History[1]; e.Reason != "日期与签到表不符" || e.UserID == nil || *e.UserID != p.supportedPrin.ID || e.UserName != p.supportedPrin.Email || e.At == "" {
			t.Errorf("dispute entry: %+v", e)
		}
		if c := h.History[2].Changes; len(c) != 2 || c["occurred_on"]["from"] != "2026-10-15" || c["occurred_on"]["to"] != "2026-10-16" || c["location"]["to"] != "麻城五中" {
			t.Errorf("amendment changes: %+v", c)
		}
		if e := h.History[6]; e.UserID == nil || *e.UserID != p.supportedPrin.ID {
			t.Errorf("confirm entry: %+v", e)
		}
	})
}
