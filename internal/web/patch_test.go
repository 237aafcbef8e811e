package web_test

import (
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestPartialPatch: on every PATCH route, an absent member keeps its
// value, null clears an optional one (and is refused for a required one,
// naming it), and unknown members are refused as before.
func TestPartialPatch(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api

		// activities: the title alone, as the example
		act := p.mustLog(p.supportingCoord, "teaching_support", "送教", "2026-10-15", "hours", 2.5, "persons", 3, "location", "麻城五中", "description", "两节课")
		path := p.path("/api/v1/activities/%d", act)
		r := api.Must(200, api.Do("PATCH", path, p.supportingCoord.Token, map[string]any{"title": "送教（修订）"}))
		got := r.JSON()
		if got["title"] != "送教（修订）" || got["category"] != "teaching_support" || got["occurred_on"] != "2026-10-15" ||
			got["hours"] != 2.5 || got["persons"] != 3.0 || got["location"] != "麻城五中" || got["description"] != "两节课" {
			t.Errorf("title-only patch changed other fields: %s", r.Body)
		}
		got = api.Must(200, api.Do("PATCH", path, p.supportingCoord.Token, map[string]any{"location": nil, "hours": nil, "persons": nil})).JSON()
		if got["location"] != "" || got["hours"] != 0.0 || got["persons"] != 1.0 || got["title"] != "送教（修订）" || got["description"] != "两节课" {
			t.Errorf("null did not clear location, hours and persons only: %v", got)
		}
		for _, field := range []string{"title", "category", "occurred_on"} {
			expectError(t, "null "+field, api.Do("PATCH", path, p.supportingCoord.Token, map[string]any{field: nil}), 422, field, "")
		}
		expectError(t, "long title", api.Do("PATCH", path, p.supportingCoord.Token, map[string]any{"title": string(make([]byte, 201))}), 422, "title", "")
		expectError(t, "future", api.Do("PATCH", path, p.supportingCoord.Token, map[string]any{"occurred_on": "2027-01-01"}), 422, "occurred_on", "")
		expectError(t, "unknown member", api.Do("PATCH", path, p.supportingCoord.Token, map[string]any{"colour": "red"}), 400, "colour", "")
		if a := p.activity(p.supportingCoord, act); a.Title != "送教（修订）" || a.Hours != 0 {
			t.Errorf("a refused patch changed the activity: %+v", a)
		}
		expectError(t, "bad type", api.Do("PATCH", path, p.supportingCoord.Token, map[string]any{"persons": "many"}), 400, "persons", "")

		// schools: null clears code and email, keeps the rest
		spath := p.path("/api/v1/schools/%d", p.supporting)
		got = api.Must(200, api.Do("PATCH", spath, p.admin, map[string]any{"email": "new@whlz.example.cn"})).JSON()
		if got["email"] != "new@whlz.example.cn" || got["code"] != "1142010001" || got["name"] != "武汉市第六中学" || got["stage"] != "senior" {
			t.Errorf("email-only patch: %v", got)
		}
		got = api.Must(200, api.Do("PATCH", spath, p.admin, map[string]any{"code": nil, "email": nil})).JSON()
		if got["code"] != nil || got["email"] != "" || got["name"] != "武汉市第六中学" {
			t.Errorf("null code and email: %v", got)
		}
		for _, field := range []string{"name", "stage", "region_id"} {
			expectError(t, "school null "+field, api.Do("PATCH", spath, p.admin, map[string]any{field: nil}), 422, field, "")
		}
		expectError(t, "school blank name", api.Do("PATCH", spath, p.admin, map[string]any{"name": " "}), 422, "name", "")

		// pairs: null ends_on is an open end; round alone keeps the rest
		ppath := p.path("/api/v1/pairs/%d", p.pair)
		got = api.Must(200, api.Do("PATCH", ppath, p.admin, map[string]any{"ends_on": "2028-08-31"})).JSON()
		if got["ends_on"] != "2028-08-31" || got["round"] != "第一轮" || got["starts_on"] != "2026-09-01" || got["status"] != "active" {
			t.Errorf("ends_on patch: %v", got)
		}
		got = api.Must(200, api.Do("PATCH", ppath, p.admin, map[string]any{"ends_on": nil, "round": nil})).JSON()
		if got["ends_on"] != nil || got["round"] != "" || got["starts_on"] != "2026-09-01" {
			t.Errorf("null ends_on and round: %v", got)
		}
		for _, field := range []string{"starts_on", "status"} {
			expectError(t, "pair null "+field, api.Do("PATCH", ppath, p.admin, map[string]any{field: nil}), 422, field, "")
		}
		got = api.Must(200, api.Do("PATCH", ppath, p.admin, map[string]any{"status": "suspended", "reason": "校长调整"})).JSON()
		if got["status"] != "suspended" || got["status_reason"] != "校长调整" {
			t.Errorf("suspend with a reason: %v", got)
		}
		got = api.Must(200, api.Do("PATCH", ppath, p.admin, map[string]any{"round": "第二轮"})).JSON()
		if got["status"] != "suspended" || got["status_reason"] != "校长调整" {
			t.Errorf("a round patch touched the status or its reason: %v", got)
		}
	})
}
