package web_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestScenario runs a programme end to end through the API: set-up by an
// admin, logging with idempotency, confirmation and dispute, compliance
// moving accordingly, amend and withdraw, another county's bureau seeing
// nothing, and the audit log.
func TestScenario(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api

		// the programme as the admin built it
		var pairs listJSON[map[string]any]
		mustDecode(t, api.Must(200, api.Do("GET", "/api/v1/pairs", p.admin, nil)), &pairs)
		if pairs.Total != 1 || len(pairs.Items) != 1 {
			t.Fatalf("admin sees %d pairs (total %d), want 1", len(pairs.Items), pairs.Total)
		}
		pr := pairs.Items[0]
		if pr["supporting_school_name"] != "武汉市第六中学" || pr["supported_school_name"] != "麻城市第五中学" ||
			pr["status"] != "active" || pr["round"] != "第一轮" || pr["starts_on"] != "2026-09-01" || pr["ends_on"] != nil {
			t.Errorf("pair as listed: %v", pr)
		}
		var ags listJSON[struct {
			ID          int64 `json:"id"`
			Commitments []struct {
				Categories []string `json:"categories"`
				Measure    string   `json:"measure"`
				Minimum    float64  `json:"minimum"`
				Period     string   `json:"period"`
			} `json:"commitments"`
		}]
		mustDecode(t, api.Must(200, api.Do("GET", p.path("/api/v1/pairs/%d/agreements", p.pair), p.supportingCoord.Token, nil)), &ags)
		if ags.Total != 1 || len(ags.Items) != 1 || len(ags.Items[0].Commitments) != 3 {
			t.Fatalf("agreements: %+v", ags)
		}
		c0 := ags.Items[0].Commitments[0]
		if !slices.Equal(c0.Categories, []string{"visit", "management_exchange"}) || c0.Measure != "count" || c0.Minimum != 2 || c0.Period != "term" {
			t.Errorf("first commitment: %+v", c0)
		}
		if c2 := ags.Items[0].Commitments[2]; c2.Measure != "hours" || c2.Minimum != 10 {
			t.Errorf("third commitment: %+v", c2)
		}

		// before anything is logged, as of 2026-11-02
		checkItems(t, "nothing logged", p.pairCompliance(p.admin, today).Items,
			want{p.termC, "2026-2027-autumn", 2, 0, 0, "on_track"},
			want{p.monthC, "2026-09", 1, 0, 0, "breached"},
			want{p.monthC, "2026-10", 1, 0, 0, "at_risk"},
			want{p.monthC, "2026-11", 1, 0, 0, "at_risk"},
			want{p.hoursC, "2026-2027-autumn", 10, 0, 0, "at_risk"},
		)

		// logging with an idempotency key: a retry answers the first result
		visit := map[string]any{"category": "visit", "title": "校长带队实地指导", "occurred_on": "2026-10-15", "location": "麻城五中", "persons": 4}
		first := api.Must(201, p.logActivity(p.supportingCoord, visit, "Idempotency-Key", "visit-2026-10-15"))
		a1 := first.ID()
		var act activityJSON
		mustDecode(t, first, &act)
		if act.Status != "pending" || act.LoggedByUserID != p.supportingCoord.ID || act.LoggedBySchoolID != p.supporting ||
			act.PairID != p.pair || act.Persons != 4 || act.Term == nil || *act.Term != "2026-2027-autumn" {
			t.Errorf("logged activity: %+v", act)
		}
		if first.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("first POST marked as replayed")
		}
		retry := api.Must(201, p.logActivity(p.supportingCoord, visit, "Idempotency-Key", "visit-2026-10-15"))
		if retry.ID() != a1 || retry.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("retry: id %d (want %d), replayed %q", retry.ID(), a1, retry.Header.Get("Idempotent-Replayed"))
		}
		changed := map[string]any{"category": "visit", "title": "另一次实地指导", "occurred_on": "2026-10-16"}
		expectError(t, "same key, other body", p.logActivity(p.supportingCoord, changed, "Idempotency-Key", "visit-2026-10-15"),
			409, "Idempotency-Key", "idempotency_key_reused")
		if n := p.count("activities"); n != 1 {
			t.Fatalf("%d activities after a retry and a reused key, want 1", n)
		}

		a2 := p.mustLog(p.supportingCoord, "management_exchange", "管理干部交流座谈", "2026-10-20")
		a3 := p.mustLog(p.supportingCoord, "visit", "十一月实地指导", "2026-11-01")
		a4 := p.mustLog(p.supportingCoord, "teaching_support", "送教下乡：高三数学", "2026-10-28", "hours", 6.5, "persons", 2)

		checkItems(t, "all pending", p.pairCompliance(p.supportedPrin.Token, today).Items,
			want{p.termC, "2026-2027-autumn", 2, 0, 3, "on_track"},
			want{p.monthC, "2026-09", 1, 0, 0, "breached"},
			want{p.monthC, "2026-10", 1, 0, 1, "at_risk"},
			want{p.monthC, "2026-11", 1, 0, 1, "at_risk"},
			want{p.hoursC, "2026-2027-autumn", 10, 0, 6.5, "at_risk"},
		)
		all := p.scopeCompliance(p.admin, "at="+today)
		if all.Total != 1 || len(all.Items) != 1 {
			t.Fatalf("admin compliance: %d pairs (total %d), want 1", len(all.Items), all.Total)
		}
		checkItems(t, "current periods, all pending", all.Items[0].Items,
			want{p.termC, "2026-2027-autumn", 2, 0, 3, "on_track"},
			want{p.monthC, "2026-11", 1, 0, 1, "at_risk"},
			want{p.hoursC, "2026-2027-autumn", 10, 0, 6.5, "at_risk"},
		)
		checkSummary(t, "all pending", all.Summary, map[string]int{"met": 0, "on_track": 1, "at_risk": 2, "breached": 0})

		// the supported school's principal decides
		var decided activityJSON
		mustDecode(t, api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/confirm", a1), p.supportedPrin.Token, nil)), &decided)
		if decided.Status != "confirmed" || decided.DecidedByUserID == nil || *decided.DecidedByUserID != p.supportedPrin.ID {
			t.Errorf("confirmed: %+v", decided)
		}
		api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/confirm", a4), p.supportedPrin.Token, nil))
		mustDecode(t, api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/dispute", a2), p.supportedPrin.Token,
			map[string]any{"reason": "  缺少签到表和照片  "})), &decided)
		if decided.Status != "disputed" || decided.DisputeReason != "缺少签到表和照片" || *decided.DecidedByUserID != p.supportedPrin.ID {
			t.Errorf("disputed: %+v", decided)
		}
		expectError(t, "confirm twice", api.Do("POST", p.path("/api/v1/activities/%d/confirm", a1), p.supportedPrin.Token, nil), 409, "status", "wrong_status")
		expectError(t, "confirm a disputed one", api.Do("POST", p.path("/api/v1/activities/%d/confirm", a2), p.supportedPrin.Token, nil), 409, "status", "wrong_status")

		checkItems(t, "after decisions", p.pairCompliance(p.supportingCoord.Token, today).Items,
			want{p.termC, "2026-2027-autumn", 2, 1, 1, "on_track"},
			want{p.monthC, "2026-09", 1, 0, 0, "breached"},
			want{p.monthC, "2026-10", 1, 1, 0, "met"},
			want{p.monthC, "2026-11", 1, 0, 1, "at_risk"},
			want{p.hoursC, "2026-2027-autumn", 10, 6.5, 0, "on_track"},
		)
		all = p.scopeCompliance(p.bureauMacheng.Token, "at="+today)
		if all.Total != 1 || len(all.Items) != 1 || all.Items[0].PairID != p.pair {
			t.Fatalf("macheng bureau compliance: %+v", all)
		}
		checkSummary(t, "after decisions", all.Summary, map[string]int{"met": 0, "on_track": 2, "at_risk": 1, "breached": 0})

		// confirmed is final; the disputed one is amended and pending again
		expectError(t, "amend confirmed", api.Do("PATCH", p.path("/api/v1/activities/%d", a1), p.supportingCoord.Token, visit), 409, "status", "immutable")
		expectError(t, "withdraw confirmed", api.Do("POST", p.path("/api/v1/activities/%d/withdraw", a1), p.supportingCoord.Token, nil), 409, "status", "wrong_status")
		if got := p.activity(p.supportedPrin, a1); got.Status != "confirmed" || got.Title != "校长带队实地指导" {
			t.Errorf("confirmed activity changed: %+v", got)
		}
		var amended activityJSON
		mustDecode(t, api.Must(200, api.Do("PATCH", p.path("/api/v1/activities/%d", a2), p.supportingCoord.Token, map[string]any{
			"category": "management_exchange", "title": "管理干部交流座谈（补签到表）", "occurred_on": "2026-10-21", "description": "附签到表"})), &amended)
		if amended.Status != "pending" || amended.DisputeReason != "" || amended.DecidedByUserID != nil ||
			amended.OccurredOn != "2026-10-21" || amended.Title != "管理干部交流座谈（补签到表）" {
			t.Errorf("amended: %+v", amended)
		}
		ev := api.Must(201, api.Upload(p.path("/api/v1/activities/%d/evidence", a2), p.supportingCoord.Token, "file", "签到表.png", pngBytes(t)))
		evidenceID := ev.ID()

		// withdraw
		var withdrawn activityJSON
		mustDecode(t, api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/withdraw", a3), p.supportingCoord.Token, nil)), &withdrawn)
		if withdrawn.Status != "withdrawn" {
			t.Errorf("withdrawn: %+v", withdrawn)
		}
		expectError(t, "withdraw twice", api.Do("POST", p.path("/api/v1/activities/%d/withdraw", a3), p.supportingCoord.Token, nil), 409, "status", "wrong_status")
		expectError(t, "confirm withdrawn", api.Do("POST", p.path("/api/v1/activities/%d/confirm", a3), p.supportedPrin.Token, nil), 409, "status", "wrong_status")

		checkItems(t, "after amend and withdraw", p.pairCompliance(p.admin, today).Items,
			want{p.termC, "2026-2027-autumn", 2, 1, 1, "on_track"},
			want{p.monthC, "2026-09", 1, 0, 0, "breached"},
			want{p.monthC, "2026-10", 1, 1, 0, "met"},
			want{p.monthC, "2026-11", 1, 0, 0, "at_risk"},
			want{p.hoursC, "2026-2027-autumn", 10, 6.5, 0, "on_track"},
		)
		// a week after November's books closed
		checkItems(t, "as of 2026-12-08", p.pairCompliance(p.admin, "2026-12-08").Items,
			want{p.termC, "2026-2027-autumn", 2, 1, 1, "on_track"},
			want{p.monthC, "2026-09", 1, 0, 0, "breached"},
			want{p.monthC, "2026-10", 1, 1, 0, "met"},
			want{p.monthC, "2026-11", 1, 0, 0, "breached"},
			want{p.monthC, "2026-12", 1, 0, 0, "at_risk"},
			want{p.hoursC, "2026-2027-autumn", 10, 6.5, 0, "on_track"},
		)

		api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/confirm", a2), p.supportedPrin.Token, nil))
		checkItems(t, "term met", p.pairCompliance(p.admin, today).Items,
			want{p.termC, "2026-2027-autumn", 2, 2, 0, "met"},
			want{p.monthC, "2026-09", 1, 0, 0, "breached"},
			want{p.monthC, "2026-10", 1, 1, 0, "met"},
			want{p.monthC, "2026-11", 1, 0, 0, "at_risk"},
			want{p.hoursC, "2026-2027-autumn", 10, 6.5, 0, "on_track"},
		)
		checkSummary(t, "final", p.scopeCompliance(p.bureauWuhan.Token, "at="+today).Summary,
			map[string]int{"met": 1, "on_track": 1, "at_risk": 1, "breached": 0})

		// a bureau of another county sees nothing, and learns nothing
		hongan := p.bureauHongan.Token
		var none listJSON[map[string]any]
		mustDecode(t, api.Must(200, api.Do("GET", "/api/v1/pairs", hongan, nil)), &none)
		if none.Total != 0 || len(none.Items) != 0 {
			t.Errorf("hongan bureau lists pairs: %+v", none)
		}
		mustDecode(t, api.Must(200, api.Do("GET", "/api/v1/activities", hongan, nil)), &none)
		if none.Total != 0 || len(none.Items) != 0 {
			t.Errorf("hongan bureau lists activities: %+v", none)
		}
		other := p.scopeCompliance(hongan, "at="+today)
		if other.Total != 0 || len(other.Items) != 0 {
			t.Errorf("hongan bureau compliance: %+v", other)
		}
		checkSummary(t, "hongan", other.Summary, map[string]int{"met": 0, "on_track": 0, "at_risk": 0, "breached": 0})
		for _, path := range []string{
			p.path("/api/v1/pairs/%d", p.pair),
			p.path("/api/v1/pairs/%d/compliance?at=%s", p.pair, today),
			p.path("/api/v1/pairs/%d/activities", p.pair),
			p.path("/api/v1/pairs/%d/agreements", p.pair),
			p.path("/api/v1/activities?pair_id=%d", p.pair),
			p.path("/api/v1/activities/%d", a1),
			p.path("/api/v1/activities/%d", a2),
			p.path("/api/v1/evidence/%d", evidenceID),
		} {
			for who, tok := range map[string]string{"hongan bureau": hongan, "hongan coordinator": p.farCoord.Token} {
				expectError(t, who+" GET "+path, api.Do("GET", path, tok, nil), 404, "", "not_found")
			}
		}
		// ... whereas the supported school's county and the supporting school's city do
		for who, tok := range map[string]string{"macheng": p.bureauMacheng.Token, "wuhan": p.bureauWuhan.Token} {
			api.Must(200, api.Do("GET", p.path("/api/v1/pairs/%d", p.pair), tok, nil))
			api.Must(200, api.Do("GET", p.path("/api/v1/evidence/%d", evidenceID), tok, nil))
			if rep := p.scopeCompliance(tok, "at="+today); rep.Total != 1 {
				t.Errorf("%s bureau compliance total %d, want 1", who, rep.Total)
			}
		}

		// the audit log
		expectActions := func(action string, n int, by int64, ids ...int64) []auditEntry {
			t.Helper()
			var l listJSON[auditEntry]
			mustDecode(t, api.Must(200, api.Do("GET", "/api/v1/audit?action="+action, p.admin, nil)), &l)
			if l.Total != int64(n) || len(l.Items) != n {
				t.Errorf("audit %s: %d entries (total %d), want %d", action, len(l.Items), l.Total, n)
			}
			var got []int64
			for _, e := range l.Items {
				if e.UserID == nil || *e.UserID != by {
					t.Errorf("audit %s on %v by %v, want user %d", action, e.EntityID, e.UserID, by)
				}
				if e.EntityID != nil {
					got = append(got, *e.EntityID)
				}
			}
			slices.Sort(got)
			slices.Sort(ids)
			if !slices.Equal(got, ids) {
				t.Errorf("audit %s on %v, want %v", action, got, ids)
			}
			return l.Items
		}
		expectActions("activity.log", 4, p.supportingCoord.ID, a1, a2, a3, a4)
		expectActions("activity.confirm", 3, p.supportedPrin.ID, a1, a2, a4)
		disputes := expectActions("activity.dispute", 1, p.supportedPrin.ID, a2)
		if len(disputes) == 1 {
			var d map[string]string
			_ = json.Unmarshal(disputes[0].Details, &d)
			if d["reason"] != "缺少签到表和照片" {
				t.Errorf("dispute details %s", disputes[0].Details)
			}
		}
		expectActions("activity.amend", 1, p.supportingCoord.ID, a2)
		expectActions("activity.withdraw", 1, p.supportingCoord.ID, a3)
		expectActions("evidence.add", 1, p.supportingCoord.ID, a2)

		var history listJSON[auditEntry]
		mustDecode(t, api.Must(200, api.Do("GET", p.path("/api/v1/audit?entity=activity&entity_id=%d", a2), p.admin, nil)), &history)
		var actions []string
		for _, e := range history.Items {
			actions = append(actions, e.Action)
		}
		if got, w := strings.Join(actions, ","), "activity.confirm,evidence.add,activity.amend,activity.dispute,activity.log"; got != w {
			t.Errorf("history of activity %d (newest first): %s, want %s", a2, got, w)
		}
		for who, tok := range map[string]string{"bureau": p.bureauMacheng.Token, "coordinator": p.supportingCoord.Token, "principal": p.supportedPrin.Token} {
			expectError(t, who+" reads the audit log", api.Do("GET", "/api/v1/audit", tok, nil), 403, "", "forbidden")
		}
	})
}

func checkSummary(t *testing.T, label string, got, w map[string]int) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(w) {
		t.Errorf("%s: summary %v, want %v", label, got, w)
	}
}
