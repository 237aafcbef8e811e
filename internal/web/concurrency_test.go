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

// TestKeyedDecisions: a confirmation, a dispute or a withdrawal sent again
// with its Idempotency-Key — after a lost answer, or at the same moment —
// answers as the first did (200, the activity, marked replayed) and is
// recorded once; the same key for another decision is a 409 naming the
// key, and without a key a second decision is still told it lost.
func TestKeyedDecisions(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		confirm := func(id int64, key string) testutil.Response {
			return api.Do("POST", p.path("/api/v1/activities/%d/confirm", id), p.supportedPrin.Token, nil, "Idempotency-Key", key)
		}
		// one after the other: the retry of a confirmation whose answer was lost
		a1 := p.mustLog(p.supportingCoord, "visit", "第1次", "2026-10-15")
		first := api.Must(200, confirm(a1, "c-1"))
		retry := api.Must(200, confirm(a1, "c-1"))
		if retry.Header.Get("Idempotent-Replayed") != "true" || first.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("replayed headers: first %q, retry %q", first.Header.Get("Idempotent-Replayed"), retry.Header.Get("Idempotent-Replayed"))
		}
		if retry.ID() != a1 || retry.JSON()["status"] != "confirmed" {
			t.Errorf("retry answered %s", retry.Body)
		}
		expectError(t, "no key: confirmed already", api.Do("POST", p.path("/api/v1/activities/%d/confirm", a1), p.supportedPrin.Token, nil), 409, "status", "wrong_status")
		// the key of that confirmation, for another activity or another decision
		a2 := p.mustLog(p.supportingCoord, "visit", "第2次", "2026-10-16")
		expectError(t, "key reused for another activity", confirm(a2, "c-1"), 409, "Idempotency-Key", "idempotency_key_reused")
		expectError(t, "key reused for a dispute", api.Do("POST", p.path("/api/v1/activities/%d/dispute", a1), p.supportedPrin.Token, map[string]any{"reason": "不属实"}, "Idempotency-Key", "c-1"),
			409, "Idempotency-Key", "idempotency_key_reused")
		// a dispute's retry replays it, and its notice is sent once
		d1 := api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/dispute", a2), p.supportedPrin.Token, map[string]any{"reason": "不属实"}, "Idempotency-Key", "d-2"))
		d2 := api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/dispute", a2), p.supportedPrin.Token, map[string]any{"reason": "不属实"}, "Idempotency-Key", "d-2"))
		if d1.JSON()["status"] != "disputed" || d2.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("dispute %s, its retry %s", d1.Body, d2.Body)
		}
		expectError(t, "same key, another reason", api.Do("POST", p.path("/api/v1/activities/%d/dispute", a2), p.supportedPrin.Token, map[string]any{"reason": "别的理由"}, "Idempotency-Key", "d-2"),
			409, "Idempotency-Key", "idempotency_key_reused")
		if n := p.count("audit_log", "entity_id = ? AND action = ?", a2, "activity.dispute"); n != 1 {
			t.Errorf("%d disputes audited, want 1", n)
		}
		if n := p.count("notices", "activity_id = ?", a2); n != 1 {
			t.Errorf("%d dispute notices, want 1", n)
		}
		// the coordinator withdraws it, twice with one key
		w1 := api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/withdraw", a2), p.supportingCoord.Token, nil, "Idempotency-Key", "w-2"))
		w2 := api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/withdraw", a2), p.supportingCoord.Token, nil, "Idempotency-Key", "w-2"))
		if w1.JSON()["status"] != "withdrawn" || w2.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("withdrawal %s, its retry %s", w1.Body, w2.Body)
		}
		// at the same moment: every try answers 200 with the confirmed
		// activity; one confirmation is recorded
		for round := 0; round < 3; round++ {
			id := p.mustLog(p.supportingCoord, "visit", fmt.Sprintf("同时%d", round), "2026-10-17")
			key := fmt.Sprintf("together-%d", round)
			rs := together(2+round, func(int) testutil.Response { return confirm(id, key) })
			replayed := 0
			for _, r := range rs {
				if r.Status != 200 || r.ID() != id || r.JSON()["status"] != "confirmed" {
					t.Errorf("round %d: %d %s", round, r.Status, r.Body)
				}
				if r.Header.Get("Idempotent-Replayed") == "true" {
					replayed++
				}
			}
			if replayed != len(rs)-1 {
				t.Errorf("round %d: %d of %d answers replayed, want all but one", round, replayed, len(rs))
			}
			if n := p.count("audit_log", "entity_id = ? AND action = ?", id, "activity.confirm"); n != 1 {
				t.Errorf("round %d: %d confirmations audited, want 1", round, n)
			}
		}
		if n := p.count("idempotency_keys", "idem_key LIKE ?", "together-%"); n != 3 {
			t.Errorf("%d keys stored for the simultaneous confirmations, want 3", n)
		}
	})
}
