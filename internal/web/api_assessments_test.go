package web_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/testutil"
)

type assessmentJSON struct {
	Items []struct {
		SchoolID int64   `json:"school_id"`
		Name     string  `json:"name"`
		RegionID int64   `json:"region_id"`
		Score    float64 `json:"score"`
		Rank     int     `json:"rank"`
		Grade    string  `json:"grade"`
	} `json:"items"`
}

// The assessment of a hand-computed programme: the monthly visit met in
// September and missed in October (the only periods of 2026-2027 ended by
// 2026-11-21), so both schools have 100 × (1 + 0) / 2 = 50; the supported
// school was named in a circular and let its rectification go overdue.
func TestAssessmentsAPI(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		ctx := context.Background()
		// logged and confirmed in September (no back-filling after the books close)
		p.clock.Set(testutil.At("2026-09-20"))
		p.supportingCoord.Token = api.Login(p.supportingCoord.Email, p.defaultPassword)
		p.supportedPrin.Token = api.Login(p.supportedPrin.Email, p.defaultPassword)
		visit := p.mustLog(p.supportingCoord, "visit", "九月实地指导", "2026-09-15")
		api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/confirm", visit), p.supportedPrin.Token, nil))
		check := func(day string) {
			t.Helper()
			p.clock.Set(testutil.At(day))
			if _, err := api.A.Check(ctx, date.MustParse(day), p.clock.Now(), false); err != nil {
				t.Fatal(err)
			}
			// tokens live 12 hours: sign in again on the new day
			p.admin = api.Login("admin@test.local", "admin-password")
			for _, u := range []*user{&p.bureauMacheng, &p.bureauHongan, &p.supportedPrin} {
				u.Token = api.Login(u.Email, p.defaultPassword)
			}
		}
		check("2026-11-10") // October's visit is breached
		bureau := p.bureauMacheng.Token
		id := api.Must(201, api.Do("POST", "/api/v1/circulars", bureau, map[string]any{"period_key": "2026-2027-autumn", "title": "通报",
			"number": "麻教通〔2026〕9号", "rectify_by": "2026-11-20"})).ID()
		api.Must(200, api.Do("POST", p.path("/api/v1/circulars/%d/publish", id), bureau, nil))
		check("2026-11-21") // the rectification is overdue
		bureau = p.bureauMacheng.Token

		get := func(token, query string) assessmentJSON {
			t.Helper()
			var out assessmentJSON
			mustDecode(t, api.Must(200, api.Do("GET", "/api/v1/assessments?"+query, token, nil)), &out)
			return out
		}
		res := get(p.admin, p.path("school_year=2026-2027&region_id=%d", p.province))
		if len(res.Items) != 2 {
			t.Fatalf("items %+v", res.Items)
		}
		// 武汉六中 50; 麻城五中 50 − 5 (circular) − 5 (overdue) = 40
		if a, b := res.Items[0], res.Items[1]; a.SchoolID != p.supporting || a.Score != 50 || a.Rank != 1 || a.Grade != "不合格" ||
			b.SchoolID != p.supported || b.Score != 40 || b.Rank != 2 || b.RegionID != p.macheng {
			t.Fatalf("items %+v", res.Items)
		}
		// the bureau's own rules: penalties 10 and 2.5, two grades
		api.Must(200, api.Do("PUT", p.path("/api/v1/regions/%d/assessment-settings", p.macheng), bureau, map[string]any{
			"weights": map[string]any{"visit": 3}, "circular_penalty": 10, "overdue_penalty": 2.5,
			"bands": []map[string]any{{"grade": "A", "min": 45}, {"grade": "B", "min": 0}}}))
		res = get(bureau, "school_year=2026-2027")
		if len(res.Items) != 1 || res.Items[0].Score != 37.5 || res.Items[0].Grade != "B" || res.Items[0].Rank != 1 {
			t.Fatalf("county items %+v", res.Items)
		}
		expectError(t, "bands order", api.Do("PUT", p.path("/api/v1/regions/%d/assessment-settings", p.macheng), bureau, map[string]any{
			"circular_penalty": 1, "overdue_penalty": 1, "bands": []map[string]any{{"grade": "A", "min": 10}, {"grade": "B", "min": 20}}}), 422, "bands[1].min", "")
		expectError(t, "weights", api.Do("PUT", p.path("/api/v1/regions/%d/assessment-settings", p.macheng), bureau, map[string]any{
			"weights": map[string]any{"golf": 1}, "circular_penalty": 1, "overdue_penalty": 1, "bands": []map[string]any{{"grade": "A", "min": 0}}}), 422, "weights.golf", "")
		expectError(t, "year", api.Do("GET", "/api/v1/assessments?school_year=2026", bureau, nil), 422, "school_year", "")
		expectError(t, "year missing", api.Do("GET", "/api/v1/assessments", bureau, nil), 422, "school_year", "")
		api.Must(404, api.Do("GET", p.path("/api/v1/assessments?school_year=2026-2027&region_id=%d", p.macheng), p.bureauHongan.Token, nil))
		api.Must(403, api.Do("GET", "/api/v1/assessments?school_year=2026-2027", p.supportedPrin.Token, nil))

		x := api.Must(200, api.Do("GET", p.path("/api/v1/assessments/export.xlsx?school_year=2026-2027&region_id=%d", p.province), p.admin, nil))
		f, err := excelize.OpenReader(bytes.NewReader(x.Body))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sheets := f.GetSheetList()
		if len(sheets) != 3 || sheets[0] != "江岸区" || sheets[1] != "麻城市" || sheets[2] != "评分依据" {
			t.Fatalf("sheets %v", sheets)
		}
		rows, _ := f.GetRows("麻城市")
		if len(rows) != 2 || rows[1][0] != "1" || rows[1][1] != "麻城市第五中学" || rows[1][2] != "40" || rows[1][6] != "1" || rows[1][7] != "1" {
			t.Fatalf("麻城市 rows %q", rows)
		}
		ev, _ := f.GetRows("评分依据")
		if len(ev) != 5 { // header + 2 periods × 2 schools
			t.Fatalf("evidence rows %q", ev)
		}
	})
}
