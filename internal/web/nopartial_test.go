package web_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestNoPartialWrite: a refused agreement leaves no agreement, commitment,
// category link or audit entry behind, whichever commitment is at fault.
func TestNoPartialWrite(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		// a fresh pair without agreements, so that counts start at zero
		clock := testutil.NewClock(testutil.At(today))
		api := testutil.NewAPI(t, testutil.NewApp(t, db, clock))
		admin := api.Admin()
		prov := api.Must(201, api.Do("POST", "/api/v1/regions", admin, map[string]any{"name": "湖北省", "level": "province"})).ID()
		s1 := api.Must(201, api.Do("POST", "/api/v1/schools", admin, map[string]any{"name": "甲校", "region_id": prov, "stage": "primary"})).ID()
		s2 := api.Must(201, api.Do("POST", "/api/v1/schools", admin, map[string]any{"name": "乙校", "region_id": prov, "stage": "primary"})).ID()
		pair := api.Must(201, api.Do("POST", "/api/v1/pairs", admin, map[string]any{"supporting_school_id": s1, "supported_school_id": s2, "starts_on": "2026-09-01"})).ID()
		path := "/api/v1/pairs/" + strconv.FormatInt(pair, 10) + "/agreements"

		counts := func() [4]int64 {
			return [4]int64{countRows(t, db, "agreements"), countRows(t, db, "commitments"), countRows(t, db, "commitment_categories"),
				countRows(t, db, "audit_log", "action = ?", "agreement.create")}
		}
		ok := map[string]any{"categories": []string{"visit", "lecture"}, "measure": "count", "minimum": 2, "period": "term"}
		for _, c := range []struct {
			name   string
			second map[string]any
			status int
			field  string
		}{
			{"unknown measure", with(ok, "measure", "minutes"), 422, "commitments[1].measure"},
			{"zero minimum", with(ok, "minimum", 0), 422, "commitments[1].minimum"},
			{"unknown category", with(ok, "categories", []string{"visit", "picnic"}), 422, "commitments[1].categories"},
			{"category twice", with(ok, "categories", []string{"lecture", "lecture"}), 422, "commitments[1].categories"},
			{"no categories", with(ok, "categories", []string{}), 422, "commitments[1].categories"},
			{"long description", with(ok, "description", strings.Repeat("长", 501)), 422, "commitments[1].description"},
			{"unknown field", with(ok, "weight", 3), 400, "weight"},
		} {
			body := map[string]any{"title": "协议", "effective_from": "2026-09-01", "effective_to": "2027-08-31",
				"commitments": []map[string]any{ok, c.second, ok}}
			expectError(t, c.name, api.Do("POST", path, admin, body), c.status, c.field, "")
			if got := counts(); got != [4]int64{} {
				t.Errorf("%s: agreements, commitments, links, audit entries = %v; want none", c.name, got)
			}
		}
		// the same agreement, corrected, is written whole
		body := map[string]any{"title": "协议", "effective_from": "2026-09-01", "effective_to": "2027-08-31",
			"commitments": []map[string]any{ok, with(ok, "categories", []string{"mentoring"}, "period", "month", "minimum", 1), ok}}
		api.Must(201, api.Do("POST", path, admin, body))
		if got := counts(); got != [4]int64{1, 3, 5, 1} {
			t.Errorf("after a good agreement: %v, want [1 3 5 1]", got)
		}
		// and an overlapping one adds nothing
		expectError(t, "overlap", api.Do("POST", path, admin, with(body, "effective_from", "2027-08-01", "effective_to", "2028-07-31")), 409, "effective_from", "overlapping_agreement")
		if got := counts(); got != [4]int64{1, 3, 5, 1} {
			t.Errorf("after an overlapping agreement: %v, want [1 3 5 1]", got)
		}
	})
}
