package view_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/i18n"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/view"
	"github.com/twinning-platform/twinning/templates"
)

func renderer(t *testing.T) *view.Renderer {
	t.Helper()
	cat, err := i18n.New(templates.FS())
	if err != nil {
		t.Fatal(err)
	}
	r, err := view.New(templates.FS(), cat, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func catalogue(t *testing.T, locale string) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(templates.FS(), "i18n/"+locale+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCatalogueCoversThePages: every message id the pages and handlers use
// is in both catalogues, and both catalogues hold the same ids — nothing
// shows up untranslated.
func TestCatalogueCoversThePages(t *testing.T) {
	zh, en := catalogue(t, "zh-CN"), catalogue(t, "en")
	for k := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("%s is in zh-CN but not in en", k)
		}
	}
	for k := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("%s is in en but not in zh-CN", k)
		}
	}
	used := map[string]bool{}
	literal := regexp.MustCompile(`\.T "([a-z_0-9]+\.[a-z_.0-9]+)"|"L" "([a-z_.]+)"|"X" "([a-z_.]+)"`)
	dynamic := regexp.MustCompile(`\(printf "([a-z_.]+\.)%s"`)
	prefixes := map[string]bool{}
	err := fs.WalkDir(templates.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".html") || strings.HasPrefix(p, "mail/") {
			return err
		}
		b, err := fs.ReadFile(templates.FS(), p)
		if err != nil {
			return err
		}
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			for _, g := range m[1:] {
				if g != "" {
					used[g] = true
				}
			}
		}
		for _, m := range dynamic.FindAllStringSubmatch(string(b), -1) {
			prefixes[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// and the Go code: p.T("..."), page titles, flashes
	goIDs := regexp.MustCompile(`T\("([a-z_]+\.[a-z_.]+)"|newPage\(c, "([a-z_]+\.[a-z_.]+)"|Title = "([a-z_]+\.[a-z_.]+)"|"(err\.[a-z_]+)"`)
	for _, dir := range []string{"../web", "."} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range goIDs.FindAllStringSubmatch(string(b), -1) {
				for _, g := range m[1:] {
					if g != "" {
						used[g] = true
					}
				}
			}
		}
	}
	if len(used) < 200 {
		t.Fatalf("found only %d message ids; the scan is broken", len(used))
	}
	for id := range used {
		if _, ok := zh[id]; !ok {
			t.Errorf("%s is used but not in the catalogues", id)
		}
	}
	// the ids built at run time
	for prefix, values := range map[string][]string{
		"role.":          {auth.RoleAdmin, auth.RoleBureau, auth.RoleCoordinator, auth.RolePrincipal},
		"stage.":         school.Stages(),
		"pair.status.":   {"active", "suspended", "ended"},
		"region.level.":  {"province", "city", "county"},
		"setup.":         {"regions", "regions_hint", "terms", "terms_hint", "schools", "schools_hint", "pairs", "pairs_hint", "users", "users_hint"},
		"notice.kind.":   {"reminder", "breach", "confirm", "escalate", "digest"},
		"notice.status.": {"none", "sent", "queued", "failed"},
		"outbox.status.": {"queued", "sending", "sent", "failed"},
		"period.":        {"month", "term", "school_year", "agreement"},
		"status.":        {"met", "on_track", "at_risk", "breached", "pending", "confirmed", "disputed", "withdrawn"},
		"flash.":         {"logged", "amended", "withdrawn", "confirmed", "disputed", "signed_out", "created", "retried", "language", "evidence_refused", "deleted", "saved", "published"},
		// issue 11
		"rect.status.":     {"awaiting_ack", "acknowledged", "submitted", "accepted", "returned"},
		"robots.kind.":     {"dingtalk", "wecom"},
		"circular.status.": {"draft", "published"},
		// issue 10: notification kinds, history events, the fields an
		// amendment names, the reasons an activity counts toward nothing
		"notifications.kind.":   {"reminder", "breach", "confirm", "escalate", "digest", "circular", "rectify", "rectify_overdue", "disputed", "amended"},
		"events.":               {"logged", "imported", "disputed", "amended", "confirmed", "withdrawn", "evidence_added", "evidence_removed"},
		"form.":                 {"category", "title", "occurred_on", "hours", "persons", "description", "location"},
		"activity.not_counted.": {"logged_after_books_closed", "outside_agreement", "category_not_in_commitment"},
		"err.":                  {"bad_request.help", "unauthorized.help", "forbidden.help", "not_found.help", "validation.help", "too_large.help", "timeout.help", "internal.help", "csrf.help"},
	} {
		delete(prefixes, prefix)
		for _, v := range values {
			if _, ok := zh[prefix+v]; !ok {
				t.Errorf("%s%s is not in the catalogues", prefix, v)
			}
		}
	}
	delete(prefixes, "pair.") // pair.supporting_school_id, pair.supported_school_id
	for _, k := range []string{"pair.supporting_school_id", "pair.supported_school_id"} {
		if _, ok := zh[k]; !ok {
			t.Errorf("%s is not in the catalogues", k)
		}
	}
	for p := range prefixes {
		t.Errorf("the templates build ids with the prefix %q that no test checks", p)
	}
}

// TestFieldMessages: the services' common messages in the reader's
// language; others as they are.
func TestFieldMessages(t *testing.T) {
	r := renderer(t)
	for _, c := range []struct{ msg, zh, en string }{
		{"is required", "必填。", "Required."},
		{"must not be in the future (today is 2026-02-15)", "不能晚于今天（今天是 2026-02-15）。", "Must not be in the future (today is 2026-02-15)."},
		{"must lie within the pair's span (2025-09-01 to 2028-08-31)", "须在结对期限内（2025-09-01 至 2028-08-31）。", "Must lie within the pair's span (2025-09-01 to 2028-08-31)."},
		{"must lie within the pair's span (from 2025-09-01)", "须在结对开始（2025-09-01）之后。", "Must not be before the pair starts (2025-09-01)."},
		{"unknown category; one of visit, lecture", "请从列表中选择活动类别。", "Choose a category from the list."},
		{"must be at most 200 characters", "不能超过 200 个字符。", "At most 200 characters."},
		{"must be a date in the form YYYY-MM-DD", "请填写有效日期。", "Enter a valid date."},
		{"must be an image (JPEG, PNG, GIF, WebP) or a PDF; this looks like text/plain", "只能上传 JPEG、PNG、GIF、WebP 图片或 PDF 文件。", "Only JPEG, PNG, GIF or WebP images and PDF files."},
		{"must not be before the pair starts (2025-09-01)", "不能早于结对开始日期（2025-09-01）。", "Must not be before the pair starts (2025-09-01)."},
		{"must not be before starts_on", "结束日期不能早于开始日期。", "The end must not be before the start."},
		{"must be one of zh-CN or en", "请从列表中选择。", "Choose from the list."},
		{"something new", "something new", "something new"},
	} {
		if got := r.FieldMessage("zh-CN", c.msg); got != c.zh {
			t.Errorf("zh-CN %q: %q, want %q", c.msg, got, c.zh)
		}
		if got := r.FieldMessage("en", c.msg); got != c.en {
			t.Errorf("en %q: %q, want %q", c.msg, got, c.en)
		}
	}
	f := view.NewForm()
	ok := r.ApplyError("zh-CN", f, &errs.Error{Kind: errs.KindInvalid, Code: "validation_failed",
		Fields: map[string]string{"title": "is required", "file": "must be at most 10 MiB", "other": "is required"}},
		map[string]string{"title": "title", "file": "evidence"})
	if !ok || f.Errors["title"] != "必填。" || f.Errors["evidence"] != "文件不能超过 10 MB。" || !strings.Contains(f.Error, "必填。") {
		t.Errorf("ApplyError: %v %+v", ok, f)
	}
	if r.ApplyError("zh-CN", view.NewForm(), errs.NotFound("pair"), nil) || r.ApplyError("zh-CN", view.NewForm(), errors.New("db down"), nil) {
		t.Error("ApplyError takes errors that are not about the input")
	}
}

func item(pair int64, cats []string, st compliance.Status, end string) compliance.Item {
	return compliance.Item{PairID: pair, Categories: cats, Status: st, Measure: "count", Minimum: decimal.FromInt(1), Required: decimal.FromInt(1),
		Period: calendar.TermPeriod, PeriodEnd: date.MustParse(end)}
}

// TestBuildDashboard: KPI counts, the breakdowns, the heat map's worst
// status per cell and worst pairs first, breaches latest first, caps.
func TestBuildDashboard(t *testing.T) {
	reports := []compliance.PairReport{
		{PairID: 1, SupportingSchool: compliance.School{Name: "甲"}, SupportedSchool: compliance.School{Name: "乙"}, Items: []compliance.Item{
			item(1, []string{"visit", "lecture"}, compliance.Met, "2026-01-31"),
			item(1, []string{"visit"}, compliance.Breached, "2025-12-31"),
		}},
		{PairID: 2, SupportingSchool: compliance.School{Name: "丙"}, SupportedSchool: compliance.School{Name: "丁"}, Items: []compliance.Item{
			item(2, []string{"lecture"}, compliance.AtRisk, "2026-01-31"),
			item(2, []string{"donation"}, compliance.Breached, "2026-01-31"),
			item(2, []string{"donation"}, compliance.Breached, "2025-11-30"),
		}},
		{PairID: 3, SupportingSchool: compliance.School{Name: "戊"}, SupportedSchool: compliance.School{Name: "己"}, Items: []compliance.Item{
			item(3, []string{"visit"}, compliance.OnTrack, "2026-01-31"),
		}},
	}
	d := view.BuildDashboard(view.DashboardInput{Reports: reports, PairArea: map[int64]int64{1: 10, 2: 20}, OwnArea: "本级",
		Areas: []view.Area{{ID: 10, Name: "甲市"}, {ID: 20, Name: "乙市"}, {ID: 30, Name: "空市"}},
		Trend: []view.TrendInput{{Term: "2025-2026-autumn", Reports: reports}}, MaxRows: 2})
	if d.Pairs != 3 || d.KPI.Total != 6 || d.KPI.Met != 1 || d.KPI.Breached != 3 || d.KPI.AtRisk != 1 || d.KPI.OnTrack != 1 || d.KPI.MetPct() != 17 {
		t.Errorf("KPI %+v", d.KPI)
	}
	var cats []string
	for _, r := range d.ByCategory {
		cats = append(cats, r.Key)
	}
	if !slices.Equal(cats, []string{"visit", "lecture", "donation"}) || !slices.Equal(d.HeatCats, cats) {
		t.Errorf("categories %v, heat %v (catalogue order, only those used)", cats, d.HeatCats)
	}
	if v := d.ByCategory[0]; v.Total != 3 || v.Met != 1 || v.Breached != 1 || v.OnTrack != 1 {
		t.Errorf("visit %+v", v)
	}
	if len(d.ByArea) != 3 || d.ByArea[0].Label != "甲市" || d.ByArea[1].Label != "乙市" || d.ByArea[2].Label != "本级" || d.ByArea[2].Total != 1 {
		t.Errorf("areas %+v", d.ByArea)
	}
	// worst first: pair 2 (two breaches), then pair 1; capped at 2 rows
	if d.HeatTotal != 3 || len(d.Heat) != 2 || d.Heat[0].PairID != 2 || d.Heat[1].PairID != 1 || d.Heat[0].Name != "丙 → 丁" {
		t.Errorf("heat %+v", d.Heat)
	}
	if c := d.Heat[1].Cells; c[0].Status != compliance.Breached || c[1].Status != compliance.Met || c[2].Status != "" {
		t.Errorf("pair 1 cells %+v", c)
	}
	if d.BreachTotal != 3 || len(d.Breaches) != 2 || d.Breaches[0].Item.PeriodEnd != date.MustParse("2026-01-31") {
		t.Errorf("breaches %+v", d.Breaches)
	}
	if len(d.Trend) != 1 || d.Trend[0].Total != 6 || d.Trend[0].BreachedPct() != 50 {
		t.Errorf("trend %+v", d.Trend)
	}
	// without sub-regions, no breakdown by them
	if d := view.BuildDashboard(view.DashboardInput{Reports: reports, OwnArea: "本级"}); d.ByArea != nil {
		t.Errorf("areas without sub-regions %+v", d.ByArea)
	}
}

// TestThumbnail: photos shrink to a small JPEG; anything else is no
// thumbnail.
func TestThumbnail(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 1600, 900))
	for y := 0; y < 900; y++ {
		for x := 0; x < 1600; x++ {
			img.Set(x, y, color.NRGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	out, err := view.Thumbnail(bytes.NewReader(buf.Bytes()), 240)
	if err != nil {
		t.Fatal(err)
	}
	th, err := jpeg.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if b := th.Bounds(); b.Dx() != 240 || b.Dy() != 135 || len(out) > 20<<10 {
		t.Errorf("thumbnail %v, %d bytes", b, len(out))
	}
	// a small picture keeps its size; a transparent one turns white, not black
	small := image.NewNRGBA(image.Rect(0, 0, 10, 20))
	buf.Reset()
	_ = png.Encode(&buf, small)
	out, err = view.Thumbnail(&buf, 240)
	if err != nil {
		t.Fatal(err)
	}
	th, _ = jpeg.Decode(bytes.NewReader(out))
	if b := th.Bounds(); b.Dx() != 10 || b.Dy() != 20 {
		t.Errorf("small picture became %v", b)
	}
	if r, _, _, _ := th.At(5, 5).RGBA(); r>>8 < 240 {
		t.Errorf("transparent became %v", th.At(5, 5))
	}
	for _, junk := range [][]byte{[]byte("%PDF-1.4"), []byte("not an image"), nil} {
		if _, err := view.Thumbnail(bytes.NewReader(junk), 240); !errors.Is(err, view.ErrNoThumbnail) {
			t.Errorf("%q: %v", junk, err)
		}
	}
}

// TestEveryPageParses: the pages exist and the assets are hashed.
func TestEveryPageParses(t *testing.T) {
	r := renderer(t)
	for _, p := range []string{"login", "error", "home_coordinator", "activity_form", "activity", "inbox", "history", "pair",
		"dashboard", "admin", "admin_schools", "admin_pairs", "admin_agreements", "admin_users", "admin_terms", "admin_outbox"} {
		if !r.Has(p) {
			t.Errorf("no page %s", p)
		}
	}
	for _, a := range []string{"app.css", "app.js", "vendor/htmx.min.js", "vendor/echarts.min.js", "favicon.svg", "file.svg"} {
		if v, ok := r.AssetVersion(a); !ok || len(v) != 12 {
			t.Errorf("asset %s: %q %v", a, v, ok)
		}
	}
}
