package web_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestSchoolOverview: a supporting school with many pairs (一对多) sees
// all of them on one page, one line each, worst first; its coordinator's
// home shows the same overview instead of a card per pair.
func TestSchoolOverview(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		// the supporting high school of 子洲 takes on three more schools
		admin := d.api.Login("admin@demo.local", demoAdminPW)
		id := func(name string) int64 {
			n, err := strconv.ParseInt(schoolID(t, d, name), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		sup := id("省级示范高中（支援校）")
		for _, name := range []string{"子洲县实验小学", "子洲县大理河小学", "子洲县第二幼儿园"} {
			d.api.Must(201, d.api.Do("POST", "/api/v1/pairs", admin, map[string]any{"supporting_school_id": sup, "supported_school_id": id(name), "starts_on": "2025-09-01"}))
		}
		w := d.as("sx.coord@demo.local", demoSchoolPW)
		for _, path := range []string{"/school", "/"} {
			r := w.must(200, w.get(path))
			r.has(t, "子洲中学", "子洲县实验小学", "子洲县大理河小学", "子洲县第二幼儿园", "待确认")
			if n := strings.Count(r.Body, `<a href="/pairs/`); n < 4 {
				t.Errorf("%s links %d pairs, want 4", path, n)
			}
			if !strings.Contains(r.Body, `id="school-pairs"`) {
				t.Errorf("%s has no overview table", path)
			}
		}
		// the pair with a breach comes first
		body := w.get("/school").Body
		if strings.Index(body, "→ 子洲中学") > strings.Index(body, "→ 子洲县实验小学") {
			t.Error("the pair with breaches is not first")
		}
		// a principal of a supported school sees its one pair; a bureau is refused
		h := d.as("zz.head@demo.local", demoSchoolPW)
		h.must(200, h.get("/school")).has(t, "← 省级示范高中（支援校）")
		b := d.as("zizhou@demo.local", demoBureauPW)
		b.must(403, b.get("/school"))
	})
}
