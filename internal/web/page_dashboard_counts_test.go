package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestPageDashboardCounts: a scope above DashboardFullScope reads the
// status read model; its figures, charts and trend equal those of the
// same dashboard graded pair by pair, for the admin, a province and a
// county, in every term; its heat map shows sub-regions and links them.
func TestPageDashboardCounts(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		srv := d.app.HTTP
		figures := func(w *web, path string) (string, string) {
			r := w.must(200, w.get(path))
			var out []string
			for _, id := range []string{"kpi-pairs", "kpi-breached"} {
				out = append(out, regexp1(r.Body, `id="`+id+`">(\d+)<`))
			}
			out = append(out, regexp1(r.Body, `(?s)<script type="application/json" class="chart-data">(.*?)</script>`))
			trendURL := strings.ReplaceAll(regexp1(r.Body, `hx-get="(/dashboard/trend\?[^"]*)"`), "&amp;", "&")
			tr := w.must(200, w.get(trendURL))
			out = append(out, regexp1(tr.Body, `(?s)<script type="application/json" class="chart-data">(.*?)</script>`))
			return strings.Join(out, "\n"), r.Body
		}
		admin := d.as("admin@demo.local", demoAdminPW)
		hubei := d.as("hubei@demo.local", demoBureauPW)
		zizhou := d.as("zizhou@demo.local", demoBureauPW)
		cases := []struct {
			w    *web
			path string
		}{
			{admin, "/dashboard"}, {hubei, "/dashboard"}, {zizhou, "/dashboard"},
			{admin, fmt.Sprintf("/dashboard?region=%d", d.regions["陕西省"])},
			{hubei, fmt.Sprintf("/dashboard?region=%d", d.regions["黄冈市"])},
		}
		aggregated := 0
		for _, c := range cases {
			for _, term := range []string{"2025-2026-autumn", "2025-2026-spring"} {
				path := c.path + "?term=" + term
				if strings.Contains(c.path, "?") {
					path = c.path + "&term=" + term
				}
				srv.DashboardFullScope = -1
				want, _ := figures(c.w, path)
				srv.DashboardFullScope = 1
				got, body := figures(c.w, path)
				if got != want {
					t.Errorf("%s: from the status read model\n%s\ngraded pair by pair\n%s", path, got, want)
				}
				if strings.Contains(body, "下级地区 × 类别热力图") {
					aggregated++
				}
			}
		}
		srv.DashboardFullScope = 0
		if aggregated == 0 {
			t.Fatal("no dashboard took the status read model's path")
		}
		// the heat map of sub-regions links them; breaches are listed on
		// a sub-region's dashboard
		srv.DashboardFullScope = 1
		defer func() { srv.DashboardFullScope = 0 }()
		r := admin.must(200, admin.get("/dashboard?term=2025-2026-autumn"))
		r.has(t, "下级地区 × 类别热力图", "本地区结对较多")
		r.lacks(t, "武汉市第六中学 → 麻城市第五中学")
		heat := r.Body[strings.Index(r.Body, `id="heat-h"`):]
		if link := fmt.Sprintf(`<th scope="row"><a href="/dashboard?region=%d&amp;term=2025-2026-autumn">陕西省</a></th>`, d.regions["陕西省"]); !strings.Contains(heat, link) {
			t.Errorf("the heat map does not link 陕西省: %.600s", heat)
		}
	})
}
