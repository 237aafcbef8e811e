package web_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/twinning-platform/twinning/internal/testutil"
)

// The import page over the demo programme: its export checks clean and
// imports changing nothing; a broken copy lists its mistakes in a table and
// comes back annotated; CSRF and roles hold.
func TestImportPage(t *testing.T) {
	d := newDemo(t, testutil.SQLite(t))
	w := d.as("admin@demo.local", demoAdminPW)
	page := w.must(200, w.get("/admin/import"))
	for _, want := range []string{`action="/admin/import"`, `enctype="multipart/form-data"`, `name="dry_run"`, `href="/admin/import/template.xlsx"`,
		`formaction="/admin/import/annotated.xlsx"`, `href="/admin/export.xlsx"`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if admin := w.must(200, w.get("/admin")); !strings.Contains(admin.Body, `href="/admin/import"`) {
		t.Error("the admin page does not link the import")
	}
	tpl := w.must(200, w.get("/admin/import/template.xlsx"))
	if _, err := excelize.OpenReader(bytes.NewReader(tpl.raw)); err != nil {
		t.Fatalf("template: %v", err)
	}
	exp := w.must(200, w.get("/admin/export.xlsx"))

	// the demo's own export: checked, then imported, nothing changes
	r := w.must(200, w.upload("/admin/import", url.Values{"dry_run": {"true"}}, "file", "demo.xlsx", exp.raw))
	if !strings.Contains(r.Body, "检查通过") || !strings.Contains(r.Body, `class="import-counts"`) {
		t.Fatalf("dry run page: %s", r.Body)
	}
	before := countRows(t, d.db, "audit_log")
	r = w.must(200, w.upload("/admin/import", url.Values{}, "file", "demo.xlsx", exp.raw))
	if !strings.Contains(r.Body, "导入完成") {
		t.Fatalf("import page: %s", r.Body)
	}
	if got := countRows(t, d.db, "audit_log"); got != before+1 {
		t.Errorf("audit rows %d → %d", before, got)
	}
	var details string
	d.db.Gorm().Raw("SELECT details FROM audit_log WHERE action = 'import.workbook'").Scan(&details)
	var counts struct{ Created, Updated, Unchanged map[string]int }
	if err := json.Unmarshal([]byte(details), &counts); err != nil {
		t.Fatal(err)
	}
	for k, n := range counts.Created {
		if n != 0 || counts.Updated[k] != 0 {
			t.Errorf("the demo's round trip created %d and updated %d %s", n, counts.Updated[k], k)
		}
	}
	if counts.Unchanged["pairs"] == 0 || counts.Unchanged["commitments"] == 0 || counts.Unchanged["users"] == 0 {
		t.Errorf("the demo's export lacks records: %v", counts.Unchanged)
	}
	// a broken copy: the table of mistakes, and the annotated workbook
	f, err := excelize.OpenReader(bytes.NewReader(exp.raw))
	if err != nil {
		t.Fatal(err)
	}
	_ = f.SetCellValue("学校", "D2", "大学")
	var buf bytes.Buffer
	_, _ = f.WriteTo(&buf)
	r = w.must(422, w.upload("/admin/import", url.Values{}, "file", "bad.xlsx", buf.Bytes()))
	if !strings.Contains(r.Body, `class="import-errors"`) || !strings.Contains(r.Body, "<td>学校</td><td>2</td><td>学段</td>") {
		t.Fatalf("error table: %s", r.Body)
	}
	ann := w.must(200, w.upload("/admin/import/annotated.xlsx", url.Values{}, "file", "bad.xlsx", buf.Bytes()))
	af, err := excelize.OpenReader(bytes.NewReader(ann.raw))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := af.GetRows("学校")
	last := len(rows[0]) - 1
	if rows[0][last] != "错误" || !strings.Contains(rows[1][last], "学段") {
		t.Errorf("annotated: %q / %q", rows[0], rows[1])
	}
	// no file: the form says so
	r = w.must(422, w.upload("/admin/import", url.Values{}, "file", "", nil))
	if !strings.Contains(r.Body, `id="file-error"`) {
		t.Errorf("no file: %s", r.Body)
	}
	// CSRF: a post without the token is refused
	r = w.upload("/admin/import", url.Values{"_csrf": {"forged"}}, "file", "demo.xlsx", exp.raw)
	if r.Status != 403 {
		t.Errorf("forged CSRF: %d", r.Status)
	}

	// a county bureau sees the page and round-trips its own scope; a school user may not
	b := d.as("macheng@demo.local", demoBureauPW)
	b.must(200, b.get("/admin/import"))
	bexp := b.must(200, b.get("/admin/export.xlsx"))
	b.must(200, b.upload("/admin/import", url.Values{"dry_run": {"true"}}, "file", "mc.xlsx", bexp.raw))
	c := d.as("wh6.coord@demo.local", demoSchoolPW)
	if r := c.get("/admin/import"); r.Status != 403 {
		t.Errorf("coordinator: %d", r.Status)
	}
}
