package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// consistent checks, after a lifecycle change, that compliance is what a
// recompute from scratch says: the pair's report from the read model
// equals the one computed from the activity history, on several dates,
// and the read model equals a full rebuild of it.
func (p *programme) consistent(label string, pairs ...int64) {
	p.t.Helper()
	ctx := context.Background()
	sys := auth.SystemActor()
	if len(pairs) == 0 {
		pairs = []int64{p.pair}
	}
	for _, pair := range pairs {
		for _, at := range []string{"2026-09-15", today, "2027-02-15", "2027-09-30"} {
			d := date.MustParse(at)
			got, err := p.api.A.Compliance.Pair(ctx, sys, pair, d)
			if err != nil {
				p.t.Fatal(err)
			}
			want, err := p.api.A.Compliance.PairFromFacts(ctx, sys, pair, d)
			if err != nil {
				p.t.Fatal(err)
			}
			if len(got.Items) != len(want.Items) {
				p.t.Fatalf("%s, pair %d as of %s: %d items from the read model, %d from the history", label, pair, at, len(got.Items), len(want.Items))
			}
			for i := range got.Items {
				g, w := got.Items[i], want.Items[i]
				if g.CommitmentID != w.CommitmentID || g.PeriodKey != w.PeriodKey || g.Achieved != w.Achieved || g.Pending != w.Pending || g.Status != w.Status || g.Required != w.Required {
					p.t.Fatalf("%s, pair %d as of %s: read model %+v, history %+v", label, pair, at, g, w)
				}
			}
		}
	}
	before := readModel(p.t, p.db)
	if err := p.api.A.Ledger.RebuildAll(ctx); err != nil {
		p.t.Fatal(err)
	}
	after := readModel(p.t, p.db)
	if len(before) != len(after) {
		p.t.Fatalf("%s: read model has %d non-zero totals, a rebuild %d:\n%v\n%v", label, len(before), len(after), before, after)
	}
	for k, v := range after {
		if before[k] != v {
			p.t.Errorf("%s: %s is %q in the read model, %q rebuilt", label, k, before[k], v)
		}
	}
}

func readModel(t *testing.T, db *database.DB) map[string]string {
	t.Helper()
	var rows []struct {
		CommitmentID      int64
		PeriodKey         string
		PeriodStart       date.Date
		PeriodEnd         date.Date
		Achieved, Pending float64
	}
	if err := db.Gorm().Table("period_totals").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		if r.Achieved == 0 && r.Pending == 0 {
			continue
		}
		out[fmt.Sprintf("%d/%s", r.CommitmentID, r.PeriodKey)] = fmt.Sprintf("%s..%s %.2f/%.2f", r.PeriodStart, r.PeriodEnd, r.Achieved, r.Pending)
	}
	return out
}

// items returns the pair's compliance items as of at, by "commitment/period".
func (p *programme) items(at string) map[string]complianceItem {
	p.t.Helper()
	out := map[string]complianceItem{}
	for _, it := range p.pairCompliance(p.admin, at).Items {
		out[fmt.Sprintf("%d/%s", it.CommitmentID, it.PeriodKey)] = it
	}
	return out
}

func (p *programme) audited(action string) int64 {
	p.t.Helper()
	return p.count("audit_log", "action = ?", action)
}

// seedActivity logs and confirms activities for the lifecycle tests.
func (p *programme) confirmed(category, title, occurred string, extra ...any) int64 {
	p.t.Helper()
	id := p.mustLog(p.supportingCoord, category, title, occurred, extra...)
	p.api.Must(200, p.api.Do("POST", p.path("/api/v1/activities/%d/confirm", id), p.supportedPrin.Token, nil))
	return id
}

func TestRegionLifecycle(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		path := func(id int64) string { return p.path("/api/v1/regions/%d", id) }
		regionPath := func(id int64) string {
			return api.Must(200, api.Do("GET", path(id), p.admin, nil)).JSON()["path"].(string)
		}
		// rename only
		got := api.Must(200, api.Do("PATCH", path(p.macheng), p.admin, map[string]any{"name": "麻城市（县级市）"})).JSON()
		if got["name"] != "麻城市（县级市）" || got["path"] != fmt.Sprintf("/%d/%d/%d/", p.province, p.huanggang, p.macheng) {
			t.Errorf("rename: %v", got)
		}
		// the Wuhan bureau does not see the supported school yet
		expectError(t, "outside", api.Do("GET", p.path("/api/v1/schools/%d", p.supported), p.bureauWuhan.Token, nil), 404, "", "")
		// move 麻城市 under 武汉市: the subtree's paths follow, and scopes with them
		got = api.Must(200, api.Do("PATCH", path(p.macheng), p.admin, map[string]any{"parent_id": p.wuhan})).JSON()
		want := fmt.Sprintf("/%d/%d/%d/", p.province, p.wuhan, p.macheng)
		if got["path"] != want || regionPath(p.macheng) != want || got["name"] != "麻城市（县级市）" {
			t.Errorf("move: %v, stored %s", got, regionPath(p.macheng))
		}
		api.Must(200, api.Do("GET", p.path("/api/v1/schools/%d", p.supported), p.bureauWuhan.Token, nil))
		if regionPath(p.hongan) != fmt.Sprintf("/%d/%d/%d/", p.province, p.huanggang, p.hongan) {
			t.Errorf("a sibling moved too: %s", regionPath(p.hongan))
		}
		// move a city with its counties: every descendant follows
		other := p.created("/api/v1/regions", map[string]any{"name": "湖南省", "level": "province"})
		api.Must(200, api.Do("PATCH", path(p.huanggang), p.admin, map[string]any{"parent_id": other}))
		if got := regionPath(p.hongan); got != fmt.Sprintf("/%d/%d/%d/", other, p.huanggang, p.hongan) {
			t.Errorf("grandchild path after moving its city: %s", got)
		}
		// cycles, levels and nulls are refused, naming the field
		expectError(t, "under own child", api.Do("PATCH", path(p.province), p.admin, map[string]any{"parent_id": p.wuhan}), 409, "parent_id", "region_cycle")
		expectError(t, "under itself", api.Do("PATCH", path(p.wuhan), p.admin, map[string]any{"parent_id": p.wuhan}), 409, "parent_id", "region_cycle")
		expectError(t, "county under county", api.Do("PATCH", path(p.hongan), p.admin, map[string]any{"parent_id": p.jiangan}), 422, "parent_id", "")
		expectError(t, "city without parent", api.Do("PATCH", path(p.wuhan), p.admin, map[string]any{"parent_id": nil}), 422, "parent_id", "")
		expectError(t, "null name", api.Do("PATCH", path(p.wuhan), p.admin, map[string]any{"name": nil}), 422, "name", "")
		expectError(t, "no such parent", api.Do("PATCH", path(p.wuhan), p.admin, map[string]any{"parent_id": 987654}), 422, "parent_id", "")
		expectError(t, "bureau", api.Do("PATCH", path(p.macheng), p.bureauMacheng.Token, map[string]any{"name": "x"}), 403, "", "")
		if n := p.audited("region.update"); n != 3 {
			t.Errorf("%d region.update audit entries, want 3", n)
		}
	})
}

func TestTermLifecycle(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		p.confirmed("visit", "十月指导", "2026-10-20")
		p.confirmed("management_exchange", "管理交流", "2026-09-20")
		p.consistent("start")
		var terms listJSON[struct {
			ID         int64  `json:"id"`
			SchoolYear string `json:"school_year"`
			Season     string `json:"season"`
			EndsOn     string `json:"ends_on"`
		}]
		mustDecode(t, api.Must(200, api.Do("GET", "/api/v1/terms", p.admin, nil)), &terms)
		ids := map[string]int64{}
		for _, tm := range terms.Items {
			ids[tm.SchoolYear+"-"+tm.Season] = tm.ID
		}
		autumn, spring, oldSpring := ids["2026-2027-autumn"], ids["2026-2027-spring"], ids["2025-2026-spring"]
		path := func(id int64) string { return p.path("/api/v1/terms/%d", id) }

		// autumn ends on 15 January instead of 31: the term period moves at once
		before := p.items(today)[fmt.Sprintf("%d/2026-2027-autumn", p.termC)]
		got := api.Must(200, api.Do("PATCH", path(autumn), p.admin, map[string]any{"ends_on": "2027-01-15"})).JSON()
		if got["ends_on"] != "2027-01-15" || got["starts_on"] != "2026-09-01" || got["season"] != "autumn" {
			t.Errorf("patch ends_on: %v", got)
		}
		after := p.items(today)[fmt.Sprintf("%d/2026-2027-autumn", p.termC)]
		if before.PeriodEnd != "2027-01-31" || after.PeriodEnd != "2027-01-15" || after.Achieved != 2 || after.Status != "met" {
			t.Errorf("term period before %+v, after %+v", before, after)
		}
		p.consistent("term ends earlier")
		// spring may then start on 16 January
		api.Must(200, api.Do("PATCH", path(spring), p.admin, map[string]any{"starts_on": "2027-01-16"}))
		p.consistent("spring starts earlier")
		expectError(t, "overlap", api.Do("PATCH", path(autumn), p.admin, map[string]any{"ends_on": "2027-02-01"}), 409, "ends_on", "overlapping_term")
		expectError(t, "reversed", api.Do("PATCH", path(autumn), p.admin, map[string]any{"ends_on": "2026-08-01"}), 422, "ends_on", "")
		expectError(t, "null", api.Do("PATCH", path(autumn), p.admin, map[string]any{"starts_on": nil}), 422, "starts_on", "")
		expectError(t, "season", api.Do("PATCH", path(autumn), p.admin, map[string]any{"season": "summer"}), 422, "season", "")
		expectError(t, "duplicate", api.Do("PATCH", path(autumn), p.admin, map[string]any{"season": "spring"}), 409, "season", "duplicate_term")
		expectError(t, "bureau", api.Do("PATCH", path(autumn), p.bureauMacheng.Token, map[string]any{"ends_on": "2027-01-20"}), 403, "", "")

		// a term that per-term commitments depend on cannot go; one nothing depends on can
		r := expectStatus(t, api.Do("DELETE", path(autumn), p.admin, nil), 409)
		if r.Code() != "term_in_use" || !containsAll(string(r.Body), "agreement", "2026—2027学年对口帮扶协议") {
			t.Errorf("delete a used term: %s", r.Body)
		}
		api.Must(204, api.Do("DELETE", path(oldSpring), p.admin, nil))
		expectError(t, "gone", api.Do("GET", path(oldSpring), p.admin, nil), 404, "", "")
		p.consistent("old term deleted")
		// a recorded breach names its period: that term stays, its label too
		if err := db.Gorm().Exec(`INSERT INTO breaches (pair_id, agreement_id, commitment_id, period_key, period_start, period_end, required, achieved, pending, recorded_on, created_at)
			VALUES (?, ?, ?, '2026-2027-spring', '2027-01-16', '2027-08-31', 2, 0, 0, '2027-09-08', ?)`, p.pair, p.agreement, p.termC, testutil.At(today)).Error; err != nil {
			t.Fatal(err)
		}
		r = expectStatus(t, api.Do("DELETE", path(spring), p.admin, nil), 409)
		if !containsAll(string(r.Body), "breach", "2026-2027-spring") {
			t.Errorf("delete a term with a breach: %s", r.Body)
		}
		expectError(t, "relabel", api.Do("PATCH", path(spring), p.admin, map[string]any{"school_year": "2027-2028"}), 409, "school_year", "term_in_use")
		if n := p.audited("term.update"); n != 2 {
			t.Errorf("%d term.update audit entries, want 2", n)
		}
		if n := p.audited("term.delete"); n != 1 {
			t.Errorf("%d term.delete audit entries, want 1", n)
		}
	})
}

func TestAgreementLifecycle(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		for _, d := range []string{"2026-09-10", "2026-10-12"} {
			p.confirmed("visit", "实地指导", d)
		}
		p.confirmed("teaching_support", "送教", "2026-10-20", "hours", 4)
		p.mustLog(p.supportingCoord, "lecture", "讲座", "2026-10-25")
		p.consistent("start")
		path := p.path("/api/v1/agreements/%d", p.agreement)

		// title alone
		got := api.Must(200, api.Do("PATCH", path, p.admin, map[string]any{"title": "修订后的协议"})).JSON()
		if got["title"] != "修订后的协议" || got["effective_to"] != "2027-08-31" || got["goals"] != "提升管理水平与课堂教学质量" || len(got["commitments"].([]any)) != 3 {
			t.Errorf("title patch: %v", got)
		}
		got = api.Must(200, api.Do("PATCH", path, p.admin, map[string]any{"goals": nil, "signed_on": nil})).JSON()
		if got["goals"] != "" || got["signed_on"] != nil || got["title"] != "修订后的协议" {
			t.Errorf("null goals and signed_on: %v", got)
		}
		// ended early, in the middle of spring: the last term is prorated
		api.Must(200, api.Do("PATCH", path, p.admin, map[string]any{"effective_to": "2027-04-30"}))
		spring := p.items("2027-04-01")[fmt.Sprintf("%d/2026-2027-spring", p.termC)]
		if spring.Required != 1 { // ceil(2 × 89/212)
			t.Errorf("spring after ending early: %+v", spring)
		}
		p.consistent("ended early")
		// extended again, and a second agreement after it; no overlap allowed
		api.Must(200, api.Do("PATCH", path, p.admin, map[string]any{"effective_to": "2027-06-30"}))
		p.consistent("extended")
		second := api.Must(201, api.Do("POST", p.path("/api/v1/pairs/%d/agreements", p.pair), p.admin, map[string]any{
			"title": "续签", "effective_from": "2027-07-01", "effective_to": "2028-06-30",
			"commitments": []map[string]any{{"categories": []string{"visit"}, "measure": "count", "minimum": 1, "period": "month"}}})).ID()
		expectError(t, "overlap", api.Do("PATCH", path, p.admin, map[string]any{"effective_to": "2027-08-31"}), 409, "effective_to", "overlapping_agreement")
		expectError(t, "before start", api.Do("PATCH", path, p.admin, map[string]any{"effective_to": "2026-08-01"}), 422, "effective_to", "")
		expectError(t, "null end", api.Do("PATCH", path, p.admin, map[string]any{"effective_to": nil}), 422, "effective_to", "")
		expectError(t, "blank title", api.Do("PATCH", path, p.admin, map[string]any{"title": ""}), 422, "title", "")
		api.Must(200, api.Do("PATCH", p.path("/api/v1/pairs/%d", p.pair), p.admin, map[string]any{"ends_on": "2028-06-30"}))
		expectError(t, "past the pair", api.Do("PATCH", p.path("/api/v1/agreements/%d", second), p.admin, map[string]any{"effective_to": "2028-07-31"}), 422, "effective_to", "")
		expectError(t, "coordinator", api.Do("PATCH", path, p.supportingCoord.Token, map[string]any{"title": "x"}), 403, "", "")
		expectError(t, "other bureau", api.Do("PATCH", path, p.bureauHongan.Token, map[string]any{"title": "x"}), 404, "", "")

		// a commitment added later counts what already happened; the pair
		// crosses counties, so only a bureau above both (or an admin) adds it
		expectError(t, "county bureau on a cross-county pair", api.Do("POST", path+"/commitments", p.bureauMacheng.Token, map[string]any{
			"categories": []string{"visit"}, "measure": "count", "minimum": 1, "period": "term"}), 403, "", "")
		r := api.Must(201, api.Do("POST", path+"/commitments", p.admin, map[string]any{
			"categories": []string{"lecture", "visit"}, "measure": "count", "minimum": 3, "period": "term", "description": "讲座或指导"}))
		added := r.ID()
		it := p.items(today)[fmt.Sprintf("%d/2026-2027-autumn", added)]
		if it.Achieved != 2 || it.Pending != 1 || it.Required != 3 {
			t.Errorf("new commitment as of today: %+v", it)
		}
		p.consistent("commitment added")
		expectError(t, "bad commitment", api.Do("POST", path+"/commitments", p.admin, map[string]any{
			"categories": []string{"picnic"}, "measure": "count", "minimum": 0, "period": "week"}), 422, "categories", "")

		// the monthly visit is retired from 15 October: September and
		// October still count (October whole), later months are no longer required
		cpath := p.path("/api/v1/commitments/%d", p.monthC)
		got = api.Must(200, api.Do("PATCH", cpath, p.admin, map[string]any{"ends_on": "2026-10-15"})).JSON()
		if got["ends_on"] != "2026-10-15" || got["minimum"] != 1.0 {
			t.Errorf("retire: %v", got)
		}
		months := []string{}
		for _, it := range p.pairCompliance(p.admin, "2027-03-01").Items {
			if it.CommitmentID == p.monthC {
				months = append(months, it.PeriodKey+":"+it.Status)
			}
		}
		if fmt.Sprint(months) != "[2026-09:breached 2026-10:met]" { // September's visit was logged after its books closed
			t.Errorf("monthly periods after retiring from 2026-10-15: %v", months)
		}
		p.consistent("commitment retired")
		expectError(t, "retire outside", api.Do("PATCH", cpath, p.admin, map[string]any{"ends_on": "2027-09-01"}), 422, "ends_on", "")
		expectError(t, "end before retirement", api.Do("PATCH", path, p.admin, map[string]any{"effective_to": "2026-10-01"}), 409, "effective_to", "commitment_retired_later")
		got = api.Must(200, api.Do("PATCH", cpath, p.admin, map[string]any{"ends_on": nil})).JSON()
		if got["ends_on"] != nil {
			t.Errorf("restore: %v", got)
		}
		p.consistent("commitment restored", p.pair)
		for action, n := range map[string]int64{"agreement.update": 4, "commitment.create": 1, "commitment.update": 2} {
			if got := p.audited(action); got != n {
				t.Errorf("%d %s audit entries, want %d", got, action, n)
			}
		}

		// the signed agreement: a PDF and a photo, read by both schools
		dpath := path + "/documents"
		doc := api.Must(201, api.Upload(dpath, p.admin, "file", "协议（签字版）.pdf", pdfBytes())).JSON()
		if doc["file_name"] != "协议（签字版）.pdf" || doc["content_type"] != "application/pdf" {
			t.Errorf("document: %v", doc)
		}
		api.Must(201, api.Upload(dpath, p.admin, "file", "第2页.png", pngBytes(t)))
		expectError(t, "text file", api.Upload(dpath, p.admin, "file", "a.txt", []byte("hello, this is not a scan")), 422, "file", "")
		expectError(t, "coordinator upload", api.Upload(dpath, p.supportingCoord.Token, "file", "x.pdf", pdfBytes()), 403, "", "")
		docID := int64(doc["id"].(float64))
		r = api.Must(200, api.Do("GET", p.path("/api/v1/documents/%d", docID), p.supportedPrin.Token, nil))
		if string(r.Body) != string(pdfBytes()) {
			t.Error("downloaded document differs")
		}
		// served like evidence (security review item 6): sandboxed, no
		// sniffing, a PDF downloaded rather than rendered in our origin
		if h := r.Header; !strings.HasPrefix(h.Get("Content-Security-Policy"), "sandbox") || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.HasPrefix(h.Get("Content-Disposition"), "attachment") {
			t.Errorf("document headers: %v", h)
		}
		expectError(t, "outsider", api.Do("GET", p.path("/api/v1/documents/%d", docID), p.farCoord.Token, nil), 404, "", "")
		if n := p.count("agreement_documents"); n != 2 {
			t.Errorf("%d documents stored, want 2", n)
		}
	})
}

func TestRemoveEvidence(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		id := p.mustLog(p.supportingCoord, "visit", "实地指导", "2026-10-15")
		up := p.path("/api/v1/activities/%d/evidence", id)
		e1 := api.Must(201, api.Upload(up, p.supportingCoord.Token, "file", "a.png", pngBytes(t))).ID()
		e2 := api.Must(201, api.Upload(up, p.supportingCoord.Token, "file", "b.pdf", pdfBytes())).ID()
		del := func(e int64, tok string) testutil.Response {
			return api.Do("DELETE", p.path("/api/v1/evidence/%d", e), tok, nil)
		}
		expectError(t, "principal", del(e1, p.supportedPrin.Token), 403, "", "")
		expectError(t, "outsider", del(e1, p.farCoord.Token), 404, "", "")
		api.Must(204, del(e1, p.supportingCoord.Token))
		expectError(t, "twice", del(e1, p.supportingCoord.Token), 404, "", "")
		expectError(t, "download", api.Do("GET", p.path("/api/v1/evidence/%d", e1), p.supportingCoord.Token, nil), 404, "", "")
		if a := p.activity(p.supportingCoord, id); len(a.Evidence) != 1 || a.Evidence[0].ID != e2 {
			t.Errorf("evidence after removal: %+v", a.Evidence)
		}
		// disputed: still removable; confirmed: no longer
		api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/dispute", id), p.supportedPrin.Token, map[string]any{"reason": "照片不清楚"}))
		e3 := api.Must(201, api.Upload(up, p.supportingCoord.Token, "file", "c.png", pngBytes(t))).ID()
		api.Must(204, del(e3, p.supportingCoord.Token))
		api.Must(200, api.Do("PATCH", p.path("/api/v1/activities/%d", id), p.supportingCoord.Token, map[string]any{"title": "实地指导（补充照片）"}))
		api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/confirm", id), p.supportedPrin.Token, nil))
		expectError(t, "confirmed", del(e2, p.supportingCoord.Token), 409, "status", "wrong_status")
		if n := p.audited("evidence.remove"); n != 2 {
			t.Errorf("%d evidence.remove audit entries, want 2", n)
		}
	})
}

func expectStatus(t *testing.T, r testutil.Response, status int) testutil.Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	return r
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
