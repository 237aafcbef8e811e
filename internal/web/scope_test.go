package web_test

import (
	"fmt"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestRoles: who may log, confirm, dispute, amend and withdraw.
func TestRoles(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		act := map[string]any{"category": "visit", "title": "实地指导", "occurred_on": "2026-10-15"}
		logPath := p.path("/api/v1/pairs/%d/activities", p.pair)

		// logging: only a coordinator of one of the pair's schools
		for name, c := range map[string]struct {
			tok    string
			status int
		}{
			"admin":                     {p.admin, 403},
			"bureau of the pair":        {p.bureauMacheng.Token, 403},
			"city bureau of the pair":   {p.bureauWuhan.Token, 403},
			"principal of the pair":     {p.supportedPrin.Token, 403},
			"coordinator, same county":  {p.neighbourCoord.Token, 404},
			"coordinator, other county": {p.farCoord.Token, 404},
			"bureau of another county":  {p.bureauHongan.Token, 404},
		} {
			r := api.Do("POST", logPath, c.tok, act)
			code := map[int]string{403: "forbidden", 404: "not_found"}[c.status]
			expectError(t, name+" logs", r, c.status, "", code)
		}
		if n := p.count("activities"); n != 0 {
			t.Fatalf("%d activities logged by people who may not", n)
		}

		a := p.mustLog(p.supportingCoord, "visit", "实地指导", "2026-10-15")
		b := p.mustLog(p.supportingCoord, "lecture", "专题讲座", "2026-10-16")
		decide := func(id int64, verb string) string { return p.path("/api/v1/activities/%d/%s", id, verb) }
		reason := map[string]any{"reason": "不属实"}

		// deciding: only the counterpart school's principal
		for name, c := range map[string]struct {
			tok    string
			status int
		}{
			"admin":                          {p.admin, 403},
			"bureau of the pair":             {p.bureauMacheng.Token, 403},
			"the logger":                     {p.supportingCoord.Token, 403},
			"the logging school's principal": {p.supportingPrin.Token, 403},
			"the counterpart's coordinator":  {p.supportedCoord.Token, 403},
			"coordinator of another county":  {p.farCoord.Token, 404},
			"bureau of another county":       {p.bureauHongan.Token, 404},
		} {
			code := map[int]string{403: "forbidden", 404: "not_found"}[c.status]
			expectError(t, name+" confirms", api.Do("POST", decide(a, "confirm"), c.tok, nil), c.status, "", code)
			expectError(t, name+" disputes", api.Do("POST", decide(a, "dispute"), c.tok, reason), c.status, "", code)
		}
		if got := p.activity(p.supportingCoord, a); got.Status != "pending" || got.DecidedByUserID != nil {
			t.Fatalf("activity decided by someone who may not: %+v", got)
		}

		// changing: only the logger
		amend := map[string]any{"category": "visit", "title": "改", "occurred_on": "2026-10-15"}
		for name, c := range map[string]struct {
			tok    string
			status int
		}{
			"admin":                          {p.admin, 403},
			"bureau":                         {p.bureauMacheng.Token, 403},
			"the counterpart's principal":    {p.supportedPrin.Token, 403},
			"the logging school's principal": {p.supportingPrin.Token, 403},
			"the counterpart's coordinator":  {p.supportedCoord.Token, 403},
			"coordinator of another county":  {p.farCoord.Token, 404},
		} {
			code := map[int]string{403: "forbidden", 404: "not_found"}[c.status]
			expectError(t, name+" amends", api.Do("PATCH", p.path("/api/v1/activities/%d", a), c.tok, amend), c.status, "", code)
			expectError(t, name+" withdraws", api.Do("POST", decide(a, "withdraw"), c.tok, nil), c.status, "", code)
			expectError(t, name+" uploads", api.Upload(p.path("/api/v1/activities/%d/evidence", a), c.tok, "file", "x.png", pngBytes(t)), c.status, "", code)
		}
		if got := p.activity(p.supportingCoord, a); got.Status != "pending" || got.Title != "实地指导" || len(got.Evidence) != 0 {
			t.Fatalf("activity changed by someone who may not: %+v", got)
		}

		// the counterpart's principal may; the inbox shows what awaits them
		var inbox listJSON[activityJSON]
		mustDecode(t, api.Must(200, api.Do("GET", "/api/v1/activities?to_confirm=true", p.supportedPrin.Token, nil)), &inbox)
		if inbox.Total != 2 {
			t.Errorf("supported principal's inbox: %d, want 2", inbox.Total)
		}
		mustDecode(t, api.Must(200, api.Do("GET", "/api/v1/activities?to_confirm=true", p.supportingPrin.Token, nil)), &inbox)
		if inbox.Total != 0 {
			t.Errorf("supporting principal's inbox: %d, want 0 (their own school logged them)", inbox.Total)
		}
		api.Must(200, api.Do("POST", decide(a, "confirm"), p.supportedPrin.Token, nil))
		api.Must(200, api.Do("POST", decide(b, "dispute"), p.supportedPrin.Token, reason))

		// the other direction: the supported school logs, the supporting principal confirms
		s := p.mustLog(p.supportedCoord, "secondment", "副校长到武汉六中挂职", "2026-09-20", "persons", 1)
		expectError(t, "own principal confirms", api.Do("POST", decide(s, "confirm"), p.supportedPrin.Token, nil), 403, "", "forbidden")
		var got activityJSON
		mustDecode(t, api.Must(200, api.Do("POST", decide(s, "confirm"), p.supportingPrin.Token, nil)), &got)
		if got.Status != "confirmed" || got.LoggedBySchoolID != p.supported || *got.DecidedByUserID != p.supportingPrin.ID {
			t.Errorf("reverse confirmation: %+v", got)
		}

		// a pair that is not active takes no new activity
		api.Must(200, api.Do("PATCH", p.path("/api/v1/pairs/%d", p.pair), p.admin, map[string]any{"status": "suspended"}))
		expectError(t, "log on a suspended pair", api.Do("POST", logPath, p.supportingCoord.Token, act), 409, "pair_id", "pair_not_active")
	})
}

// TestBureauScope: a bureau manages schools, pairs, agreements and school
// users in its subtree only, and never creates admins or bureaus.
func TestBureauScope(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		mc := p.bureauMacheng.Token

		// schools
		own := api.Must(201, api.Do("POST", "/api/v1/schools", mc, map[string]any{"name": "麻城市实验小学", "region_id": p.macheng, "stage": "primary"})).ID()
		expectError(t, "school in another county", api.Do("POST", "/api/v1/schools", mc, map[string]any{"name": "红安县实验小学", "region_id": p.hongan, "stage": "primary"}), 403, "", "forbidden")
		expectError(t, "school in the parent city", api.Do("POST", "/api/v1/schools", mc, map[string]any{"name": "黄冈中学", "region_id": p.huanggang, "stage": "senior"}), 403, "", "forbidden")
		expectError(t, "move a school out", api.Do("PATCH", p.path("/api/v1/schools/%d", own), mc, map[string]any{"region_id": p.hongan}), 403, "", "forbidden")
		expectError(t, "edit a school outside", api.Do("PATCH", p.path("/api/v1/schools/%d", p.far), mc, map[string]any{"name": "改名"}), 404, "", "not_found")
		expectError(t, "read a school outside", api.Do("GET", p.path("/api/v1/schools/%d", p.far), mc, nil), 404, "", "not_found")
		api.Must(200, api.Do("PATCH", p.path("/api/v1/schools/%d", own), mc, map[string]any{"name": "麻城市第一实验小学"}))
		// the city bureau covers both its counties
		api.Must(201, api.Do("POST", "/api/v1/schools", p.bureauWuhan.Token, map[string]any{"name": "江岸区实验小学", "region_id": p.jiangan, "stage": "primary"}))
		if n := p.count("schools", "region_id = ?", p.hongan); n != 1 {
			t.Errorf("%d schools in 红安县, want 1", n)
		}

		// pairs: both schools in the subtree; a pair across subtrees is made
		// by a bureau above both or an admin (security review item 4)
		api.Must(201, api.Do("POST", "/api/v1/pairs", mc, map[string]any{"supporting_school_id": p.neighbour, "supported_school_id": own, "starts_on": "2026-09-01"}))
		expectError(t, "pair with one school outside", api.Do("POST", "/api/v1/pairs", mc, map[string]any{"supporting_school_id": p.supporting, "supported_school_id": own, "starts_on": "2026-09-01"}), 403, "", "forbidden")
		expectError(t, "agreement on a pair across subtrees", api.Do("POST", p.path("/api/v1/pairs/%d/agreements", p.pair), mc, goodAgreement), 403, "", "forbidden")
		expectError(t, "edit of a pair across subtrees", api.Do("PATCH", p.path("/api/v1/pairs/%d", p.pair), mc, map[string]any{"round": "改"}), 403, "", "forbidden")
		expectError(t, "pair outside", api.Do("POST", "/api/v1/pairs", mc, map[string]any{"supporting_school_id": p.supporting, "supported_school_id": p.far, "starts_on": "2026-09-01"}), 403, "", "forbidden")
		expectError(t, "agreement outside", api.Do("POST", p.path("/api/v1/pairs/%d/agreements", p.pair), p.bureauHongan.Token, goodAgreement), 404, "", "not_found")
		expectError(t, "pair edit outside", api.Do("PATCH", p.path("/api/v1/pairs/%d", p.pair), p.bureauHongan.Token, map[string]any{"round": "改"}), 404, "", "not_found")
		api.Must(201, api.Do("POST", p.path("/api/v1/pairs/%d/agreements", p.pair), p.admin, goodAgreement))

		// users
		u := func(role string, scope string, id int64) map[string]any {
			return map[string]any{"name": "新用户", "email": fmt.Sprintf("%s-%d@example.cn", role, id), "password": "long-enough-1", "role": role, scope: id}
		}
		api.Must(201, api.Do("POST", "/api/v1/users", mc, u("coordinator", "school_id", own)))
		api.Must(201, api.Do("POST", "/api/v1/users", mc, u("principal", "school_id", p.supported)))
		expectError(t, "bureau creates a bureau", api.Do("POST", "/api/v1/users", mc, u("bureau", "region_id", p.macheng)), 403, "", "forbidden")
		expectError(t, "bureau creates an admin", api.Do("POST", "/api/v1/users", mc, map[string]any{"name": "x", "email": "root@example.cn", "password": "long-enough-1", "role": "admin"}), 403, "", "forbidden")
		expectError(t, "user of a school outside", api.Do("POST", "/api/v1/users", mc, u("coordinator", "school_id", p.far)), 403, "", "forbidden")
		if n := p.count("users", "role IN ?", []string{"admin", "bureau"}); n != 4 {
			t.Errorf("%d admins and bureaus, want 4", n)
		}
		var users listJSON[map[string]any]
		mustDecode(t, api.Must(200, api.Do("GET", "/api/v1/users?limit=500", mc, nil)), &users)
		for _, x := range users.Items {
			if sid, ok := x["school_id"].(float64); ok && int64(sid) == p.far {
				t.Errorf("macheng bureau lists a user of 红安一中: %v", x)
			}
		}

		// regions and terms are the admin's
		expectError(t, "bureau creates a region", api.Do("POST", "/api/v1/regions", mc, map[string]any{"name": "新区", "level": "county", "parent_id": p.huanggang}), 403, "", "forbidden")
		expectError(t, "bureau creates a term", api.Do("POST", "/api/v1/terms", mc, map[string]any{"school_year": "2030-2031", "season": "autumn", "starts_on": "2030-09-01", "ends_on": "2031-01-31"}), 403, "", "forbidden")

		// school users manage nothing
		for name, tok := range map[string]string{"coordinator": p.supportingCoord.Token, "principal": p.supportedPrin.Token} {
			expectError(t, name+" creates a school", api.Do("POST", "/api/v1/schools", tok, map[string]any{"name": "x", "region_id": p.macheng, "stage": "primary"}), 403, "", "forbidden")
			expectError(t, name+" creates a pair", api.Do("POST", "/api/v1/pairs", tok, map[string]any{"supporting_school_id": p.supporting, "supported_school_id": p.neighbour, "starts_on": "2026-09-01"}), 403, "", "forbidden")
			expectError(t, name+" creates a user", api.Do("POST", "/api/v1/users", tok, u("coordinator", "school_id", p.supporting)), 403, "", "forbidden")
			expectError(t, name+" lists users", api.Do("GET", "/api/v1/users", tok, nil), 403, "", "forbidden")
			expectError(t, name+" creates an agreement", api.Do("POST", p.path("/api/v1/pairs/%d/agreements", p.pair), tok, with(goodAgreement, "effective_from", "2028-09-01", "effective_to", "2029-08-31")), 403, "", "forbidden")
			expectError(t, name+" ends the pair", api.Do("PATCH", p.path("/api/v1/pairs/%d", p.pair), tok, map[string]any{"status": "ended"}), 403, "", "forbidden")
		}
		// a coordinator sees its own pairs only
		var pairs listJSON[map[string]any]
		mustDecode(t, api.Must(200, api.Do("GET", "/api/v1/pairs", p.neighbourCoord.Token, nil)), &pairs)
		if pairs.Total != 1 || len(pairs.Items) != 1 || int64(pairs.Items[0]["supporting_school_id"].(float64)) != p.neighbour {
			t.Errorf("neighbour coordinator's pairs: %+v", pairs)
		}
	})
}

// TestPagination: every list says its limit, offset and total, and no list
// gives more than 500 rows.
func TestPagination(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		for i := 0; i < 5; i++ {
			p.mustLog(p.supportingCoord, "visit", fmt.Sprintf("第%d次", i+1), fmt.Sprintf("2026-10-%02d", i+1))
		}
		// a second pair, for the compliance list
		p.created("/api/v1/pairs", map[string]any{"supporting_school_id": p.supporting, "supported_school_id": p.neighbour, "starts_on": "2026-09-01"})

		lists := []struct {
			path  string
			total int64
		}{
			{"/api/v1/regions", 6},
			{"/api/v1/schools", 4},
			{"/api/v1/users", 10},
			{"/api/v1/terms", 3},
			{"/api/v1/pairs", 2},
			{p.path("/api/v1/pairs/%d/activities", p.pair), 5},
			{p.path("/api/v1/pairs/%d/agreements", p.pair), 1},
			{"/api/v1/activities", 5},
			{"/api/v1/compliance", 2},
			{"/api/v1/audit", p.count("audit_log")},
		}
		for _, l := range lists {
			sep := "?"
			var all listJSON[map[string]any]
			mustDecode(t, api.Must(200, api.Do("GET", l.path, p.admin, nil)), &all)
			if all.Total != l.total || len(all.Items) != int(l.total) || all.Limit != 50 || all.Offset != 0 {
				t.Errorf("%s: %d items, total %d, limit %d, offset %d; want %d items, limit 50", l.path, len(all.Items), all.Total, all.Limit, all.Offset, l.total)
				continue
			}
			// pages of 2 cover the list exactly once, in the same order
			var seen []any
			for off := 0; off < int(l.total)+2; off += 2 {
				var pg listJSON[map[string]any]
				mustDecode(t, api.Must(200, api.Do("GET", fmt.Sprintf("%s%slimit=2&offset=%d", l.path, sep, off), p.admin, nil)), &pg)
				wantN := min(2, max(0, int(l.total)-off))
				if pg.Total != l.total || pg.Limit != 2 || pg.Offset != off || len(pg.Items) != wantN {
					t.Errorf("%s limit 2 offset %d: %d items, total %d, limit %d, offset %d; want %d items", l.path, off, len(pg.Items), pg.Total, pg.Limit, pg.Offset, wantN)
				}
				for _, it := range pg.Items {
					id := it["id"]
					if id == nil {
						id = it["pair_id"]
					}
					seen = append(seen, id)
				}
			}
			var order []any
			for _, it := range all.Items {
				id := it["id"]
				if id == nil {
					id = it["pair_id"]
				}
				order = append(order, id)
			}
			if fmt.Sprint(seen) != fmt.Sprint(order) {
				t.Errorf("%s: pages give %v, the whole list %v", l.path, seen, order)
			}
			expectError(t, l.path+" limit 501", api.Do("GET", l.path+sep+"limit=501", p.admin, nil), 422, "limit", "validation_failed")
			var most listJSON[map[string]any]
			mustDecode(t, api.Must(200, api.Do("GET", l.path+sep+"limit=500", p.admin, nil)), &most)
			if most.Limit != 500 {
				t.Errorf("%s limit 500: limit %d", l.path, most.Limit)
			}
		}
		// the compliance list also pages by cursor: next_after until the end
		var all listJSON[map[string]any]
		mustDecode(t, api.Must(200, api.Do("GET", "/api/v1/compliance", p.admin, nil)), &all)
		var seen, order []any
		for _, it := range all.Items {
			order = append(order, it["pair_id"])
		}
		url := "/api/v1/compliance?limit=1"
		for pages := 0; ; pages++ {
			if pages > len(order) {
				t.Fatalf("compliance by cursor: more than %d pages", len(order))
			}
			var pg struct {
				listJSON[map[string]any]
				NextAfter *int64 `json:"next_after"`
			}
			mustDecode(t, api.Must(200, api.Do("GET", url, p.admin, nil)), &pg)
			if pg.Total != int64(len(order)) || len(pg.Items) != 1 {
				t.Fatalf("compliance %s: %d items, total %d", url, len(pg.Items), pg.Total)
			}
			seen = append(seen, pg.Items[0]["pair_id"])
			if pg.NextAfter == nil {
				break
			}
			url = fmt.Sprintf("/api/v1/compliance?limit=1&after=%d", *pg.NextAfter)
		}
		if fmt.Sprint(seen) != fmt.Sprint(order) {
			t.Errorf("compliance: pages by cursor give %v, the whole list %v", seen, order)
		}
		expectError(t, "compliance after=x", api.Do("GET", "/api/v1/compliance?after=x", p.admin, nil), 422, "after", "validation_failed")
	})
}
