package web_test

import (
	"math"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestAmendUnchanged: amending a pending activity with what it already
// says, at the same instant, is not a conflict (MySQL reports no changed
// rows for such an UPDATE).
func TestAmendUnchanged(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		id := p.mustLog(p.supportingCoord, "visit", "实地指导", "2026-10-15")
		body := map[string]any{"category": "visit", "title": "实地指导（修改）", "occurred_on": "2026-10-16"}
		for i := 0; i < 3; i++ {
			r := p.api.Must(200, p.api.Do("PATCH", p.path("/api/v1/activities/%d", id), p.supportingCoord.Token, body))
			var a activityJSON
			mustDecode(t, r, &a)
			if a.Status != "pending" || a.Title != "实地指导（修改）" || a.OccurredOn != "2026-10-16" {
				t.Errorf("amend %d: %+v", i, a)
			}
		}
		if n := p.count("audit_log", "action = ?", "activity.amend"); n != 3 {
			t.Errorf("%d amend audit entries, want 3", n)
		}
	})
}

// TestDecimals: hours and quotas take up to two decimals, whatever their
// binary representation (0.29 × 100 is 28.999999999999996 in float64).
func TestDecimals(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		var total float64
		for _, h := range []float64{0.29, 1.15, 2.3, 4.35, 0.01, 999.99, 8} {
			r := p.api.Do("POST", p.path("/api/v1/pairs/%d/activities", p.pair), p.supportingCoord.Token,
				map[string]any{"category": "teaching_support", "title": "送教", "occurred_on": "2026-10-15", "hours": h})
			if r.Status != 201 {
				t.Errorf("hours %v: %d %s", h, r.Status, r.Body)
				continue
			}
			var a activityJSON
			mustDecode(t, r, &a)
			if a.Hours != h {
				t.Errorf("hours %v stored as %v", h, a.Hours)
			}
			if got := p.activity(p.supportedPrin, a.ID); got.Hours != h {
				t.Errorf("hours %v read back as %v", h, got.Hours)
			}
			total += h
		}
		for _, h := range []float64{0.291, 1.155, 0.001} {
			expectError(t, "three decimals", p.api.Do("POST", p.path("/api/v1/pairs/%d/activities", p.pair), p.supportingCoord.Token,
				map[string]any{"category": "teaching_support", "title": "送教", "occurred_on": "2026-10-15", "hours": h}), 422, "hours", "validation_failed")
		}
		for _, m := range []float64{10.15, 0.29, 4.35} {
			ag := with(goodAgreement, "effective_from", "2028-09-01", "effective_to", "2029-08-31",
				"commitments", []map[string]any{{"categories": []string{"teaching_support"}, "measure": "hours", "minimum": m, "period": "term"}})
			r := p.api.Do("POST", p.path("/api/v1/pairs/%d/agreements", p.pair), p.admin, ag)
			if r.Status != 201 {
				t.Errorf("minimum %v hours: %d %s", m, r.Status, r.Body)
			}
			// make room for the next one
			p.db.Gorm().Exec("DELETE FROM commitment_categories WHERE commitment_id IN (SELECT id FROM commitments WHERE agreement_id = ?)", r.ID())
			p.db.Gorm().Exec("DELETE FROM commitments WHERE agreement_id = ?", r.ID())
			p.db.Gorm().Exec("DELETE FROM agreements WHERE id = ?", r.ID())
		}
		expectError(t, "minimum with three decimals", p.api.Do("POST", p.path("/api/v1/pairs/%d/agreements", p.pair), p.admin,
			with(goodAgreement, "commitments", []map[string]any{{"categories": []string{"teaching_support"}, "measure": "hours", "minimum": 10.155, "period": "term"}})),
			422, "commitments[0].minimum", "validation_failed")
		rep := p.pairCompliance(p.admin, today)
		for _, it := range rep.Items {
			if it.CommitmentID == p.hoursC && math.Abs(it.Pending-total) > 1e-9 {
				t.Errorf("pending hours %v, want %v", it.Pending, total)
			}
		}
	})
}

// A body with a missing title and a future date names both fields in one
// answer, so a form can show every mistake at once.
func TestLogReportsShapeAndRuleErrorsTogether(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		r := p.logActivity(p.supportingCoord, map[string]any{"category": "visit", "occurred_on": "2027-01-01"})
		if r.Status != 422 || r.Field("title") == "" || !strings.Contains(r.Field("occurred_on"), "future") {
			t.Fatalf("want title and occurred_on named together: %d %s", r.Status, r.Body)
		}
	})
}
