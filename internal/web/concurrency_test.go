package web_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// together runs n calls of fn at once and returns their responses.
func together(n int, fn func(i int) testutil.Response) []testutil.Response {
	out := make([]testutil.Response, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			out[i] = fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return out
}

// TestConcurrentDecisions: of two simultaneous decisions on one activity,
// exactly one wins and the other is told it lost (409).
func TestConcurrentDecisions(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		for round := 0; round < 5; round++ {
			id := p.mustLog(p.supportingCoord, "visit", fmt.Sprintf("第%d次", round), "2026-10-15")
			rs := together(2, func(i int) testutil.Response {
				if round%2 == 1 && i == 1 { // odd rounds: a confirmation races a dispute
					return api.Do("POST", p.path("/api/v1/activities/%d/dispute", id), p.supportedPrin.Token, map[string]any{"reason": "不属实"})
				}
				return api.Do("POST", p.path("/api/v1/activities/%d/confirm", id), p.supportedPrin.Token, nil)
			})
			codes := map[int]int{}
			for _, r := range rs {
				codes[r.Status]++
				if r.Status == 409 && r.Code() != "wrong_status" {
					t.Errorf("round %d: loser says %s", round, r.Body)
				}
			}
			if codes[200] != 1 || codes[409] != 1 {
				t.Errorf("round %d: statuses %v, want one 200 and one 409: %s / %s", round, codes, rs[0].Body, rs[1].Body)
			}
			decisions := p.count("audit_log", "entity = ? AND entity_id = ? AND action IN ?", "activity", id, []string{"activity.confirm", "activity.dispute"})
			if decisions != 1 {
				t.Errorf("round %d: %d decisions audited, want 1", round, decisions)
			}
		}
		// the compliance totals agree with the rows
		confirmed := p.count("activities", "status = ? AND category = ?", "confirmed", "visit")
		rep := p.pairCompliance(p.admin, today)
		for _, it := range rep.Items {
			if it.CommitmentID == p.termC && it.Achieved != float64(confirmed) {
				t.Errorf("term commitment achieved %v, but %d visits are confirmed", it.Achieved, confirmed)
			}
		}
	})
}

// TestConcurrentIdempotentLog: simultaneous POSTs with one Idempotency-Key
// log one activity and all answer it.
func TestConcurrentIdempotentLog(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		for round := 0; round < 3; round++ {
			key := fmt.Sprintf("key-%d", round)
			body := map[string]any{"category": "visit", "title": fmt.Sprintf("第%d次", round), "occurred_on": "2026-10-15"}
			n := 2 + round // 2, 3, 4 at once
			rs := together(n, func(int) testutil.Response {
				return p.logActivity(p.supportingCoord, body, "Idempotency-Key", key)
			})
			ids := map[int64]bool{}
			for _, r := range rs {
				if r.Status != 201 {
					t.Errorf("round %d: %d %s", round, r.Status, r.Body)
				}
				ids[r.ID()] = true
			}
			if len(ids) != 1 || ids[0] {
				t.Errorf("round %d: ids %v, want one", round, ids)
			}
			if c := p.count("activities", "title = ?", body["title"]); c != 1 {
				t.Errorf("round %d: %d activity rows, want 1", round, c)
			}
			if c := p.count("audit_log", "action = ?", "activity.log"); c != int64(round+1) {
				t.Errorf("round %d: %d activity.log entries, want %d", round, c, round+1)
			}
		}
		// the same key of another user is another request
		other := p.mustLog(p.supportedCoord, "visit", "别的学校", "2026-10-15")
		r := p.api.Must(201, p.logActivity(p.supportedCoord, map[string]any{"category": "visit", "title": "第0次", "occurred_on": "2026-10-15"}, "Idempotency-Key", "key-0"))
		if r.ID() == other || r.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("another user's key replayed: %s", r.Body)
		}
		rep := p.pairCompliance(p.admin, today)
		for _, it := range rep.Items {
			if it.CommitmentID == p.termC && it.Pending != 5 {
				t.Errorf("term commitment pending %v, want 5", it.Pending)
			}
		}
	})
}

// TestConcurrentUploads: simultaneous uploads and a confirmation: files
// land before the decision or are refused, never after it.
func TestConcurrentUploads(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		img := pngBytes(t)
		id := p.mustLog(p.supportingCoord, "visit", "实地指导", "2026-10-15")
		rs := together(5, func(i int) testutil.Response {
			if i == 2 {
				return p.api.Do("POST", p.path("/api/v1/activities/%d/confirm", id), p.supportedPrin.Token, nil)
			}
			return p.api.Upload(p.path("/api/v1/activities/%d/evidence", id), p.supportingCoord.Token, "file", fmt.Sprintf("%d.png", i), img)
		})
		if rs[2].Status != 200 {
			t.Fatalf("confirmation: %d %s", rs[2].Status, rs[2].Body)
		}
		accepted := 0
		for i, r := range rs {
			if i == 2 {
				continue
			}
			switch r.Status {
			case 201:
				accepted++
			case 409:
			default:
				t.Errorf("upload %d: %d %s", i, r.Status, r.Body)
			}
		}
		if n := p.count("evidence"); n != int64(accepted) {
			t.Errorf("%d evidence rows, %d uploads accepted", n, accepted)
		}
	})
}
