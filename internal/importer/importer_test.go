package importer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/config"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/importer"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// env is an app over a test database with an admin signed in.
type env struct {
	t     *testing.T
	db    *database.DB
	a     *app.App
	h     http.Handler
	admin string
}

func newEnv(t *testing.T, db *database.DB, tune ...func(*config.Config)) *env {
	t.Helper()
	cfg := testutil.Config(t)
	for _, f := range tune {
		f(cfg)
	}
	clock := testutil.NewClock(testutil.At("2026-11-02"))
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)),
		app.Options{Now: clock.Now, BcryptCost: bcrypt.MinCost, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	api := testutil.NewAPI(t, a)
	return &env{t: t, db: db, a: a, h: a.HTTP.Handler(), admin: api.Admin()}
}

type answer struct {
	status int
	body   []byte
	header http.Header
}

func (e *env) do(req *http.Request, token string) answer {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return answer{rec.Code, rec.Body.Bytes(), rec.Header()}
}

func (e *env) get(path, token string) answer {
	return e.do(httptest.NewRequest(http.MethodGet, path, nil), token)
}

func (e *env) upload(path, token string, file []byte, fields ...string) answer {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = w.WriteField(fields[i], fields[i+1])
	}
	fw, _ := w.CreateFormFile("file", "workbook.xlsx")
	_, _ = fw.Write(file)
	_ = w.Close()
	req := httptest.NewRequest(http.MethodPost, path, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return e.do(req, token)
}

type importAnswer struct {
	DryRun    bool            `json:"dry_run"`
	Created   importer.Counts `json:"created"`
	Updated   importer.Counts `json:"updated"`
	Unchanged importer.Counts `json:"unchanged"`
	Error     struct {
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Rows    []importer.RowError `json:"rows"`
	} `json:"error"`
}

func (e *env) importBook(token string, file []byte, dry bool, want int) importAnswer {
	e.t.Helper()
	r := e.upload("/api/v1/import", token, file, "dry_run", fmt.Sprint(dry))
	if r.status != want {
		e.t.Fatalf("import: status %d, want %d: %s", r.status, want, r.body)
	}
	var out importAnswer
	if err := json.Unmarshal(r.body, &out); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) count(table string) int64 {
	e.t.Helper()
	var n int64
	if err := e.db.Gorm().Table(table).Count(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	return n
}

// counts of every table an import writes.
func (e *env) counts() map[string]int64 {
	out := map[string]int64{}
	for _, t := range []string{"regions", "schools", "users", "pairs", "agreements", "commitments", "commitment_categories", "audit_log"} {
		out[t] = e.count(t)
	}
	return out
}

// book builds an .xlsx from sheet name → rows (the first row the header).
func book(t *testing.T, sheets map[string][][]any) []byte {
	t.Helper()
	f := excelize.NewFile()
	first := true
	names := make([]string, 0, len(sheets))
	for n := range sheets {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		if first {
			_ = f.SetSheetName("Sheet1", name)
			first = false
		} else if _, err := f.NewSheet(name); err != nil {
			t.Fatal(err)
		}
		for i, r := range sheets[name] {
			cell, _ := excelize.CoordinatesToCellName(1, i+1)
			if err := f.SetSheetRow(name, cell, &r); err != nil {
				t.Fatal(err)
			}
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	hRegions    = []any{"名称", "级别", "上级地区"}
	hSchools    = []any{"学校名称", "学校代码", "所属地区", "学段", "联系邮箱"}
	hUsers      = []any{"姓名", "邮箱", "手机号", "角色", "所属学校", "所属地区"}
	hPairs      = []any{"支援学校", "受援学校", "开始日期", "结束日期", "轮次"}
	hAgreements = []any{"支援学校", "受援学校", "协议名称", "签订日期", "生效日期", "截止日期", "活动类别", "计量", "最低要求", "周期", "说明"}
)

// programme is a small county programme in the workbook's shape; bad
// replaces cells (sheet, row index from 1 = first data row, column index).
func programme(t *testing.T, edits ...func(map[string][][]any)) []byte {
	s := map[string][][]any{
		"地区": {hRegions,
			{"湖北省", "省", ""},
			{"黄冈市", "市", "湖北省"},
			{"麻城市", "县", "湖北省/黄冈市"},
			{"红安县", "county", "黄冈市"},
		},
		"学校": {hSchools,
			{"麻城市第一中学", "4211810001", "麻城市", "高中", "mc1z@example.cn"},
			{"麻城市第五中学", "4211810005", "麻城市", "初中", ""},
			{"红安县第一中学", "", "红安县", "senior", "hazx@example.cn"},
			{"麻城市实验小学", "", "麻城市", "小学", ""},
		},
		"用户": {hUsers,
			{"张老师", "zhang@example.cn", "13800000000", "联络员", "4211810001", ""},
			{"李校长", "li@example.cn", "", "校长", "麻城市第五中学", ""},
			{"王科长", "wang@example.cn", "", "教育局", "", "麻城市"},
			{"赵老师", "zhao@example.cn", "", "coordinator", "红安县第一中学", ""},
		},
		"结对": {hPairs,
			{"4211810001", "4211810005", "2025-09-01", "", "第一轮"},
			{"4211810001", "麻城市实验小学", 45901, "2028-08-31", ""}, // 45901 = 2025-09-01 as an Excel date
			{"红安县第一中学", "麻城市第五中学", "2025-09-01", "", ""},
		},
		"协议指标": {hAgreements,
			{"4211810001", "4211810005", "2025—2026 协议", "2025-08-20", "2025-09-01", "2026-08-31", "管理交流、实地指导", "次数", 2, "每学期", "每学期两次"},
			{"4211810001", "4211810005", "2025—2026 协议", "", "", "", "送教支教", "课时", "10.5", "每学期", ""},
			{"4211810001", "4211810005", "2025—2026 协议", "", "", "", "student_exchange,visit", "count", 1, "school_year", ""},
			{"4211810001", "麻城市实验小学", "结对协议", "", "2025-09-01", "2026-08-31", "示范课", "次数", 1, "每月", ""},
			{"红安县第一中学", "麻城市第五中学", "红安协议", "", "2025-09-01", "2026-08-31", "挂职交流", "人次", 1, "协议期内", ""},
		},
	}
	for _, e := range edits {
		e(s)
	}
	return book(t, s)
}

func set(sheet string, row, col int, v any) func(map[string][][]any) {
	return func(s map[string][][]any) {
		r := slices.Clone(s[sheet][row])
		for len(r) <= col {
			r = append(r, "")
		}
		r[col] = v
		s[sheet][row] = r
	}
}

func add(sheet string, cells ...any) func(map[string][][]any) {
	return func(s map[string][][]any) { s[sheet] = append(s[sheet], cells) }
}

func TestTemplateSheetsAndHeaders(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t))
	for _, tc := range []struct {
		lang   string
		sheets []string
		heads  map[string][]string
	}{
		{"zh-CN", []string{"地区", "学校", "用户", "结对", "协议指标", "说明"}, map[string][]string{
			"地区":   {"名称", "级别", "上级地区"},
			"学校":   {"学校名称", "学校代码", "所属地区", "学段", "联系邮箱"},
			"用户":   {"姓名", "邮箱", "手机号", "角色", "所属学校", "所属地区"},
			"结对":   {"支援学校", "受援学校", "开始日期", "结束日期", "轮次"},
			"协议指标": {"支援学校", "受援学校", "协议名称", "签订日期", "生效日期", "截止日期", "活动类别", "计量", "最低要求", "周期", "说明"},
		}},
		{"en", []string{"Regions", "Schools", "Users", "Pairs", "Agreements", "Instructions"}, map[string][]string{
			"Regions":    {"Name", "Level", "Parent region"},
			"Pairs":      {"Supporting school", "Supported school", "Start date", "End date", "Round"},
			"Agreements": {"Supporting school", "Supported school", "Agreement title", "Signed on", "Effective from", "Effective to", "Categories", "Measure", "Minimum", "Period", "Description"},
		}},
	} {
		r := e.get("/api/v1/import/template.xlsx?lang="+tc.lang, e.admin)
		if r.status != 200 || !strings.Contains(r.header.Get("Content-Type"), "spreadsheetml") {
			t.Fatalf("%s: status %d %s", tc.lang, r.status, r.header.Get("Content-Type"))
		}
		f, err := excelize.OpenReader(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		if got := f.GetSheetList(); !slices.Equal(got, tc.sheets) {
			t.Errorf("%s: sheets %v, want %v", tc.lang, got, tc.sheets)
		}
		for sheet, want := range tc.heads {
			rows, err := f.GetRows(sheet)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) < 2 || !slices.Equal(rows[0], want) {
				t.Errorf("%s/%s: header %v, want %v (and an example row)", tc.lang, sheet, rows, want)
			}
		}
		// dropdowns on every enumerated column
		dv := map[string][]string{}
		for _, s := range tc.sheets[:5] {
			list, err := f.GetDataValidations(s)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range list {
				dv[s] = append(dv[s], strings.Fields(d.Sqref)[0][:1]+":"+d.Formula1)
			}
		}
		if tc.lang == "zh-CN" {
			for sheet, want := range map[string]string{"地区": `B:"省,市,县"`, "学校": `D:"幼儿园,小学,初中,高中,职业学校,九年一贯制,十二年一贯制"`,
				"用户": `D:"教育局,联络员,校长"`} {
				if !slices.Contains(dv[sheet], want) {
					t.Errorf("%s: validations %v, want %s", sheet, dv[sheet], want)
				}
			}
			if len(dv["协议指标"]) != 2 {
				t.Errorf("协议指标: validations %v, want 计量 and 周期", dv["协议指标"])
			}
			rows, _ := f.GetRows("说明")
			if !strings.Contains(fmt.Sprint(rows), "实地指导、管理交流") {
				t.Errorf("说明 lacks the category list: %v", rows)
			}
		}
		f.Close()
		// the template's own example imports as it is, in either language
		res := e.importBook(e.admin, r.body, true, 200)
		if res.Created.Schools != 2 || res.Created.Pairs != 1 || res.Created.Commitments != 1 {
			t.Errorf("%s: the example would create %+v", tc.lang, res.Created)
		}
	}
	// a school user may not have it
	if r := e.get("/api/v1/import/template.xlsx", ""); r.status != 401 {
		t.Errorf("anonymous template: %d", r.status)
	}
}

func TestImportCheckFixReimportRoundTrip(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		before := e.counts()

		// one bad cell per kind of column, each on its own row
		bad := programme(t,
			set("地区", 4, 1, "州"),                      // enum (级别), row 5
			set("学校", 2, 4, "not-an-email"),           // email, row 3
			add("学校", "火星学校", "", "火星", "小学", ""),     // region reference, row 6
			add("学校", "某校", "12345", "麻城市", "小学", ""), // code, row 7
			set("学校", 4, 3, "大学"),                     // enum (学段), row 5
			set("用户", 1, 1, "not-an-email"),           // email, row 2
			set("用户", 2, 3, "学生"),                     // enum (角色), row 3
			set("用户", 3, 2, "call me"),                // phone, row 4
			set("用户", 4, 4, "不存在的学校"),                 // school reference, row 5
			set("结对", 3, 2, "2025-13-01"),             // date, row 4
			set("协议指标", 1, 8, "abc"),                  // number (最低要求), row 2
			set("协议指标", 2, 6, "打球"),                   // category, row 3
			set("协议指标", 3, 7, "公斤"),                   // enum (计量), row 4
			set("协议指标", 4, 9, "每周"),                   // enum (周期), row 5
			set("协议指标", 5, 5, "2025-08-01"),           // effective_to before effective_from, row 6
		)
		for _, dry := range []bool{true, false} {
			res := e.importBook(e.admin, bad, dry, 422)
			if res.Error.Code != "import_failed" {
				t.Fatalf("code %q", res.Error.Code)
			}
			got := map[string]string{}
			for _, r := range res.Error.Rows {
				got[fmt.Sprintf("%s/%d/%s", r.Sheet, r.Row, r.Column)] = r.Message
			}
			for _, want := range []string{"地区/5/级别", "学校/7/学校代码", "学校/3/联系邮箱", "学校/6/所属地区", "学校/5/学段",
				"用户/2/邮箱", "用户/3/角色", "用户/4/手机号", "用户/5/所属学校", "结对/4/开始日期",
				"协议指标/2/最低要求", "协议指标/3/活动类别", "协议指标/4/计量", "协议指标/5/周期", "协议指标/6/截止日期"} {
				if _, ok := got[want]; !ok {
					t.Errorf("dry_run=%v: no error at %s; got %v", dry, want, got)
				}
			}
			if after := e.counts(); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("a failed import wrote: %v → %v", before, after)
			}
			// in the caller's language, naming what is accepted
			if m := got["学校/3/联系邮箱"]; m != "请填写有效的电子邮箱。" {
				t.Errorf("email message %q", m)
			}
			if m := got["学校/5/学段"]; !strings.Contains(m, "“大学”不在可选值中") || !strings.Contains(m, "九年一贯制") {
				t.Errorf("stage message %q", m)
			}
		}

		// the fixed workbook: a dry run writes nothing, then the import
		good := programme(t)
		res := e.importBook(e.admin, good, true, 200)
		want := importer.Counts{Regions: 4, Schools: 4, Users: 4, Pairs: 3, Agreements: 3, Commitments: 5}
		if !res.DryRun || res.Created != want {
			t.Fatalf("dry run: %+v, want created %+v", res, want)
		}
		if after := e.counts(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("a dry run wrote: %v → %v", before, after)
		}
		res = e.importBook(e.admin, good, false, 200)
		if res.DryRun || res.Created != want {
			t.Fatalf("import: %+v, want created %+v", res, want)
		}
		after := e.counts()
		if after["schools"] != 4 || after["users"] != before["users"]+4 || after["commitments"] != 5 || after["commitment_categories"] != 7 ||
			after["audit_log"] != before["audit_log"]+1+4 { // the import, and an invitation sent to each new user
			t.Fatalf("after import: %v", after)
		}
		var hours struct {
			Minimum    string
			Categories string
		}
		db.Gorm().Raw("SELECT CAST(minimum AS CHAR) AS minimum, categories FROM commitments WHERE measure = 'hours'").Scan(&hours)
		if !strings.HasPrefix(hours.Minimum, "10.5") || hours.Categories != "teaching_support" {
			t.Errorf("hours commitment stored as %+v", hours)
		}
		var paths []string
		db.Gorm().Raw("SELECT path FROM regions ORDER BY id").Scan(&paths)
		if len(paths) != 4 || paths[0] == "" || !strings.HasPrefix(paths[2], paths[1]) || !strings.HasPrefix(paths[3], paths[1]) {
			t.Errorf("region paths %v", paths)
		}
		var noPassword int64
		db.Gorm().Raw("SELECT COUNT(*) FROM users WHERE password_hash = '' AND phone = '13800000000'").Scan(&noPassword)
		if noPassword != 1 {
			t.Errorf("imported users carry no password and keep their phone: %d", noPassword)
		}
		var started string
		db.Gorm().Raw("SELECT CAST(starts_on AS CHAR) FROM pairs p JOIN schools s ON s.id = p.supported_school_id WHERE s.name = '麻城市实验小学'").Scan(&started)
		if !strings.HasPrefix(started, "2025-09-01") {
			t.Errorf("an Excel date cell read as %q", started)
		}

		// the same workbook again: nothing created, nothing changed
		res = e.importBook(e.admin, good, false, 200)
		if res.Created != (importer.Counts{}) || res.Updated != (importer.Counts{}) || res.Unchanged != want {
			t.Fatalf("second import: %+v", res)
		}
		if again := e.counts(); again["schools"] != after["schools"] || again["commitments"] != after["commitments"] {
			t.Fatalf("second import wrote: %v → %v", after, again)
		}

		// a changed row updates its record
		changed := programme(t, set("学校", 2, 4, "mc5z@example.cn"), set("协议指标", 1, 8, 3), set("用户", 1, 0, "张老师（教研）"),
			set("结对", 1, 4, "第二轮"), set("结对", 2, 3, "2028-12-31"))
		res = e.importBook(e.admin, changed, false, 200)
		if res.Created != (importer.Counts{}) || res.Updated != (importer.Counts{Schools: 1, Users: 1, Pairs: 2, Agreements: 1, Commitments: 1}) {
			t.Fatalf("changed import: %+v", res)
		}
		var email string
		db.Gorm().Raw("SELECT email FROM schools WHERE code = '4211810005'").Scan(&email)
		if email != "mc5z@example.cn" {
			t.Errorf("school email %q", email)
		}
		var rounds []string
		db.Gorm().Raw("SELECT CONCAT(round, '|', COALESCE(CAST(ends_on AS CHAR), '')) FROM pairs WHERE ends_on IS NOT NULL OR round <> '' ORDER BY id").Scan(&rounds)
		if len(rounds) != 2 || !strings.HasPrefix(rounds[0], "第二轮|") || !strings.HasPrefix(rounds[1], "|2028-12-31") {
			t.Errorf("pairs after the change: %q", rounds)
		}
		// a region's level may not leave its sub-regions misplaced
		res2 := e.importBook(e.admin, programme(t, set("地区", 2, 1, "县")), true, 422)
		if len(res2.Error.Rows) == 0 || res2.Error.Rows[0].Column != "级别" {
			t.Errorf("黄冈市 made a county over counties: %+v", res2.Error.Rows)
		}

		// export → import changes nothing
		exp := e.get("/api/v1/export.xlsx", e.admin)
		if exp.status != 200 {
			t.Fatalf("export: %d %s", exp.status, exp.body)
		}
		res = e.importBook(e.admin, exp.body, false, 200)
		if res.Created != (importer.Counts{}) || res.Updated != (importer.Counts{}) {
			t.Fatalf("export → import: %+v", res)
		}
		if res.Unchanged.Schools != 4 || res.Unchanged.Pairs != 3 || res.Unchanged.Commitments != 5 || res.Unchanged.Users != 4 {
			t.Errorf("the export lacks records: %+v", res.Unchanged)
		}
		// in English too
		exp = e.get("/api/v1/export.xlsx?lang=en", e.admin)
		res = e.importBook(e.admin, exp.body, false, 200)
		if res.Created != (importer.Counts{}) || res.Updated != (importer.Counts{}) {
			t.Fatalf("English export → import: %+v", res)
		}
	})
}

func TestBureauImportsWithinItsSubtree(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		e.importBook(e.admin, programme(t), false, 200)
		// a bureau of 麻城市, with a password to sign in
		var region int64
		db.Gorm().Raw("SELECT id FROM regions WHERE name = '麻城市'").Scan(&region)
		api := testutil.NewAPI(t, e.a)
		api.Must(201, api.Do("POST", "/api/v1/users", e.admin, map[string]any{"name": "麻城教育局", "email": "bureau@mc.cn",
			"password": "harbor-lantern-2026", "role": "bureau", "region_id": region}))
		bureau := api.Login("bureau@mc.cn", "harbor-lantern-2026")

		// its own export round-trips
		exp := e.get("/api/v1/export.xlsx", bureau)
		res := e.importBook(bureau, exp.body, false, 200)
		if res.Created != (importer.Counts{}) || res.Updated != (importer.Counts{}) || res.Unchanged.Schools != 3 || res.Unchanged.Pairs != 2 {
			t.Fatalf("bureau round trip: %+v", res)
		}

		before := e.counts()
		out := programme(t,
			set("地区", 4, 0, "新县"),      // a new region: admins only (row 5)
			set("学校", 3, 0, "红安县第二中学"), // a school in 红安县, outside (row 4)
			set("用户", 4, 3, "联络员"),     // 赵老师 of 红安县第一中学 (row 5)
		)
		res = e.importBook(bureau, out, true, 422)
		got := map[string]bool{}
		for _, r := range res.Error.Rows {
			got[fmt.Sprintf("%s/%d/%s", r.Sheet, r.Row, r.Column)] = true
		}
		for _, want := range []string{"地区/2/名称", "地区/5/名称", "学校/4/所属地区", "用户/5/所属学校", "结对/4/支援学校", "协议指标/6/支援学校"} {
			if !got[want] {
				t.Errorf("no error at %s; got %v", want, res.Error.Rows)
			}
		}
		if after := e.counts(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("a refused import wrote: %v → %v", before, after)
		}
		// a coordinator may not import at all
		api.Must(201, api.Do("POST", "/api/v1/users", e.admin, map[string]any{"name": "c", "email": "c@mc.cn",
			"password": "harbor-lantern-2026", "role": "coordinator", "school_id": 1}))
		if r := e.upload("/api/v1/import", api.Login("c@mc.cn", "harbor-lantern-2026"), programme(t)); r.status != 403 {
			t.Errorf("coordinator import: %d", r.status)
		}
	})
}

func TestImportBadUploads(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), func(c *config.Config) { c.Import.MaxBytes = 200 << 10 })
	if r := e.upload("/api/v1/import", e.admin, []byte("not a workbook")); r.status != 400 || !strings.Contains(string(r.body), `"file"`) {
		t.Errorf("not a workbook: %d %s", r.status, r.body)
	}
	if r := e.upload("/api/v1/import", e.admin, programme(t), "dry_run", "maybe"); r.status != 400 {
		t.Errorf("bad dry_run: %d %s", r.status, r.body)
	}
	if r := e.upload("/api/v1/import", e.admin, bytes.Repeat([]byte("x"), 300<<10)); r.status != 413 {
		t.Errorf("too large: %d %s", r.status, r.body)
	}
	req := httptest.NewRequest(http.MethodPost, "/api/v1/import", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	if r := e.do(req, e.admin); r.status != 400 {
		t.Errorf("no file: %d %s", r.status, r.body)
	}
	// a missing column is reported on the header row; empty sheets are fine
	noLevel := book(t, map[string][][]any{"地区": {{"名称", "上级地区"}, {"湖北省", ""}}, "学校": {hSchools}})
	res := e.importBook(e.admin, noLevel, true, 422)
	if len(res.Error.Rows) != 1 || res.Error.Rows[0].Row != 1 || res.Error.Rows[0].Column != "级别" {
		t.Errorf("missing column: %+v", res.Error.Rows)
	}
	empty := book(t, map[string][][]any{"Schools": {{"School name", "School code", "Region", "Stage", "Contact email"}}})
	if res := e.importBook(e.admin, empty, false, 200); res.Created != (importer.Counts{}) {
		t.Errorf("empty: %+v", res)
	}
}

func TestAnnotatedCopy(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t))
	bad := programme(t, set("学校", 2, 3, "大学"))
	r := e.upload("/api/v1/import/annotated.xlsx", e.admin, bad)
	if r.status != 200 {
		t.Fatalf("annotated: %d %s", r.status, r.body)
	}
	f, err := excelize.OpenReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, _ := f.GetRows("学校")
	if rows[0][5] != "错误" || !strings.HasPrefix(rows[2][5], "学段: ") || len(rows[1]) > 5 && rows[1][5] != "" {
		t.Fatalf("annotated 学校: %q", rows)
	}
	if other, _ := f.GetRows("地区"); len(other[0]) != 3 {
		t.Errorf("a sheet without errors changed: %q", other[0])
	}
	// the annotated copy, fixed, imports (the 错误 column is ignored)
	_ = f.SetCellValue("学校", "D3", "初中")
	var buf bytes.Buffer
	_, _ = f.WriteTo(&buf)
	e.importBook(e.admin, buf.Bytes(), true, 200)
}

// An import that changes an agreement of a pair with activity moves
// compliance at once, exactly as a recompute from scratch says.
func TestImportedChangeMovesCompliance(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		monthly := func(cats string, min any) []byte {
			return programme(t, func(s map[string][][]any) {
				s["协议指标"] = [][]any{hAgreements,
					{"4211810001", "麻城市实验小学", "结对协议", "", "2026-09-01", "2027-08-31", cats, "次数", min, "每月", ""}}
			})
		}
		e.importBook(e.admin, monthly("示范课", 1), false, 200)
		api := testutil.NewAPI(t, e.a)
		var sup, sud, pair int64
		db.Gorm().Raw("SELECT id FROM schools WHERE code = '4211810001'").Scan(&sup)
		db.Gorm().Raw("SELECT id FROM schools WHERE name = '麻城市实验小学'").Scan(&sud)
		db.Gorm().Raw("SELECT id FROM pairs WHERE supporting_school_id = ? AND supported_school_id = ?", sup, sud).Scan(&pair)
		api.Must(201, api.Do("POST", "/api/v1/users", e.admin, map[string]any{"name": "c", "email": "c1@mc.cn", "password": "harbor-lantern-2026", "role": "coordinator", "school_id": sup}))
		api.Must(201, api.Do("POST", "/api/v1/users", e.admin, map[string]any{"name": "p", "email": "p1@mc.cn", "password": "harbor-lantern-2026", "role": "principal", "school_id": sud}))
		coord, principal := api.Login("c1@mc.cn", "harbor-lantern-2026"), api.Login("p1@mc.cn", "harbor-lantern-2026")
		for _, cat := range []string{"demonstration_lesson", "lecture"} {
			id := api.Must(201, api.Do("POST", fmt.Sprintf("/api/v1/pairs/%d/activities", pair), coord,
				map[string]any{"category": cat, "title": cat, "occurred_on": "2026-10-20"})).ID()
			api.Must(200, api.Do("POST", fmt.Sprintf("/api/v1/activities/%d/confirm", id), principal, map[string]any{}))
		}
		october := func() (required, achieved float64) {
			r := api.Must(200, api.Do("GET", fmt.Sprintf("/api/v1/pairs/%d/compliance?at=2026-11-02", pair), e.admin, nil))
			items, _ := r.JSON()["items"].([]any)
			for _, it := range items {
				m := it.(map[string]any)
				if m["period_key"] == "2026-10" {
					return m["required"].(float64), m["achieved"].(float64)
				}
			}
			t.Fatalf("no 2026-10 item: %s", r.Body)
			return
		}
		if req, ach := october(); req != 1 || ach != 1 {
			t.Fatalf("before: required %v achieved %v", req, ach)
		}
		res := e.importBook(e.admin, monthly("示范课、专题讲座", 3), false, 200)
		if res.Updated.Commitments != 1 || res.Created != (importer.Counts{}) {
			t.Fatalf("change: %+v", res)
		}
		if req, ach := october(); req != 3 || ach != 2 {
			t.Fatalf("after: required %v achieved %v, want 3 and 2 (the lecture now counts)", req, ach)
		}
		var links int64
		db.Gorm().Raw("SELECT COUNT(*) FROM commitment_categories").Scan(&links)
		if links != 2 {
			t.Errorf("category links %d, want 2", links)
		}
		// the pair's span may not shrink past its logged activities
		late := programme(t, set("结对", 2, 2, "2026-10-25"), func(s map[string][][]any) {
			s["协议指标"] = [][]any{hAgreements}
		})
		res = e.importBook(e.admin, late, true, 422)
		if len(res.Error.Rows) != 1 || res.Error.Rows[0].Sheet != "结对" || res.Error.Rows[0].Row != 3 || res.Error.Rows[0].Column != "开始日期" {
			t.Errorf("a span past the activities: %+v", res.Error.Rows)
		}
		stored, err := e.a.Ledger.Load(context.Background(), date.Date{}, "")
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := e.a.Ledger.Recompute(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(stored) != fmt.Sprint(fresh) {
			t.Errorf("read model %v, recompute %v", stored, fresh)
		}
	})
}
