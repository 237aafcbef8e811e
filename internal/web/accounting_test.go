package web_test

import (
	"encoding/json"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

type countedJSON struct {
	CommitmentID  int64  `json:"commitment_id"`
	PeriodKey     string `json:"period_key"`
	Reason        string `json:"reason"`
	BooksClosedOn string `json:"books_closed_on"`
}

type accountingJSON struct {
	Term         *string       `json:"term"`
	CountsToward []countedJSON `json:"counts_toward"`
	NotCounted   []countedJSON `json:"not_counted"`
}

func (p *programme) accounting(u user, id int64) accountingJSON {
	p.t.Helper()
	var a accountingJSON
	mustDecode(p.t, p.api.Must(200, p.api.Do("GET", p.path("/api/v1/activities/%d", id), u.Token, nil)), &a)
	return a
}

// at moves the clock to day and signs the users in again (a jump of days
// expires their sessions).
func (p *programme) at(day string, us ...*user) {
	p.t.Helper()
	p.clock.Set(testutil.At(day))
	for _, u := range us {
		u.Token = p.api.Login(u.Email, p.defaultPassword)
	}
}

func sameCounted(got []countedJSON, want ...countedJSON) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// TestAccountingGraceBoundary: an October visit logged on Nov 7 (October's
// end + 7 grace days) counts toward the month and the term; logged on Nov 8
// it still counts toward the term but not the month, and the API says why
// and when the books closed — as does the preview the log form calls.
func TestAccountingGraceBoundary(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		p.at("2026-11-07", &p.supportingCoord, &p.supportedPrin, &p.farCoord)
		onTime := p.mustLog(p.supportingCoord, "visit", "十月实地指导", "2026-10-15")
		a := p.accounting(p.supportingCoord, onTime)
		if a.Term == nil {
			t.Fatalf("no term: %+v", a)
		}
		term := *a.Term
		if !sameCounted(a.CountsToward, countedJSON{CommitmentID: p.termC, PeriodKey: term}, countedJSON{CommitmentID: p.monthC, PeriodKey: "2026-10"}) || len(a.NotCounted) != 0 {
			t.Errorf("logged on end+grace: %+v", a)
		}

		p.at("2026-11-08", &p.supportingCoord, &p.supportedPrin, &p.farCoord)
		r := p.api.Must(201, p.logActivity(p.supportingCoord, map[string]any{"category": "visit", "title": "十月补录", "occurred_on": "2026-10-16"}))
		var late accountingJSON
		mustDecode(t, r, &late)
		wantLate := countedJSON{CommitmentID: p.monthC, PeriodKey: "2026-10", Reason: "logged_after_books_closed", BooksClosedOn: "2026-11-07"}
		if !sameCounted(late.CountsToward, countedJSON{CommitmentID: p.termC, PeriodKey: term}) || !sameCounted(late.NotCounted, wantLate) {
			t.Errorf("logged on end+grace+1 (POST answer): %+v", late)
		}
		// the counterpart's principal reads the same, and so does the list
		if got := p.accounting(p.supportedPrin, r.ID()); !sameCounted(got.NotCounted, wantLate) {
			t.Errorf("GET as principal: %+v", got)
		}
		var list struct {
			Items []accountingJSON `json:"items"`
		}
		mustDecode(t, p.api.Must(200, p.api.Do("GET", p.path("/api/v1/pairs/%d/activities", p.pair), p.supportingCoord.Token, nil)), &list)
		lateInList := 0
		for _, it := range list.Items {
			if sameCounted(it.NotCounted, wantLate) {
				lateInList++
			}
		}
		if len(list.Items) != 2 || lateInList != 1 {
			t.Errorf("list: %d items, %d late, want 2, 1: %+v", len(list.Items), lateInList, list.Items)
		}
		// confirming does not make it count for the month
		p.api.Must(200, p.api.Do("POST", p.path("/api/v1/activities/%d/confirm", r.ID()), p.supportedPrin.Token, nil))
		if got := p.accounting(p.supportedPrin, r.ID()); !sameCounted(got.NotCounted, wantLate) || len(got.CountsToward) != 1 {
			t.Errorf("after confirmation: %+v", got)
		}

		// a category no commitment lists counts toward nothing, named per commitment
		other := p.mustLog(p.supportingCoord, "lecture", "专题讲座", "2026-11-05")
		got := p.accounting(p.supportingCoord, other)
		if len(got.CountsToward) != 0 || len(got.NotCounted) != 3 {
			t.Errorf("uncovered category: %+v", got)
		}
		for _, n := range got.NotCounted {
			if n.Reason != "category_not_in_commitment" {
				t.Errorf("uncovered category reason: %+v", n)
			}
		}

		// the preview for the log form, as of Nov 8
		preview := func(day, cat string) accountingJSON {
			t.Helper()
			var a accountingJSON
			r := p.api.Must(200, p.api.Do("GET", p.path("/api/v1/pairs/%d/accounting?category=%s&occurred_on=%s", p.pair, cat, day), p.supportingCoord.Token, nil))
			if err := json.Unmarshal(r.Body, &a); err != nil {
				t.Fatal(err)
			}
			return a
		}
		if got := preview("2026-10-20", "visit"); !sameCounted(got.NotCounted, countedJSON{CommitmentID: p.monthC, PeriodKey: "2026-10", Reason: "logged_after_books_closed", BooksClosedOn: "2026-11-07"}) {
			t.Errorf("preview late: %+v", got)
		}
		if got := preview("2026-11-01", "visit"); len(got.NotCounted) != 0 || len(got.CountsToward) != 2 {
			t.Errorf("preview on time: %+v", got)
		}
		expectError(t, "preview without date", p.api.Do("GET", p.path("/api/v1/pairs/%d/accounting?category=visit", p.pair), p.supportingCoord.Token, nil), 422, "occurred_on", "")
		expectError(t, "preview bad date", p.api.Do("GET", p.path("/api/v1/pairs/%d/accounting?category=visit&occurred_on=2026-13-01", p.pair), p.supportingCoord.Token, nil), 422, "occurred_on", "")
		if r := p.api.Do("GET", p.path("/api/v1/pairs/%d/accounting?category=visit&occurred_on=2026-11-01", p.pair), p.farCoord.Token, nil); r.Status != 404 && r.Status != 403 {
			t.Errorf("preview by an outsider: %d %s", r.Status, r.Body)
		}
	})
}
