package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http/httptest"
	"testing"

	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// The fixture of every API test: a programme built by an admin through the
// API, as of 2026-11-02 on the fake clock.
//
//	湖北省 (province)
//	├── 武汉市 (city) ── 江岸区 (county): 武汉六中 (supporting)
//	└── 黄冈市 (city) ─┬ 麻城市 (county): 麻城五中 (supported), 麻城三中 (unpaired)
//	                   └ 红安县 (county): 红安一中 (unpaired)
//
// Terms: 2025-2026 spring, 2026-2027 autumn (2026-09-01 – 2027-01-31),
// 2026-2027 spring. Pair 武汉六中 → 麻城五中 from 2026-09-01, with one
// agreement (2026-09-01 – 2027-08-31) of three commitments:
//   - termC:  2 × (management_exchange | visit) per term
//   - monthC: 1 × visit per month
//   - hoursC: 10 hours of teaching_support per term
type programme struct {
	t     *testing.T
	api   *testutil.API
	clock *testutil.Clock
	db    *database.DB

	admin string

	province, wuhan, jiangan, huanggang, macheng, hongan int64 // regions

	supporting, supported, neighbour, far int64 // schools

	pair                  int64
	agreement             int64
	termC, monthC, hoursC int64
	supportingCoord       user // 武汉六中 coordinator: logs
	supportingPrin        user // 武汉六中 principal
	supportedCoord        user // 麻城五中 coordinator
	supportedPrin         user // 麻城五中 principal: confirms
	neighbourCoord        user // 麻城三中 coordinator, same county, not in the pair
	farCoord              user // 红安一中 coordinator, another county
	bureauMacheng         user // county of the supported school
	bureauHongan          user // another county: sees nothing
	bureauWuhan           user // city of the supporting school
	defaultPassword       string
}

type user struct {
	ID    int64
	Token string
	Email string
}

const today = "2026-11-02"

func newProgramme(t *testing.T, db *database.DB) *programme {
	t.Helper()
	clock := testutil.NewClock(testutil.At(today))
	return newProgrammeOn(t, db, clock, testutil.NewApp(t, db, clock))
}

// newProgrammeOn builds the programme on a given app (e.g. one whose mail
// goes to an in-test SMTP server) running on clock.
func newProgrammeOn(t *testing.T, db *database.DB, clock *testutil.Clock, a *app.App) *programme {
	t.Helper()
	api := testutil.NewAPI(t, a)
	p := &programme{t: t, api: api, clock: clock, db: db, defaultPassword: "harbor-lantern-2026"}
	p.admin = api.Admin()

	p.province = p.created("/api/v1/regions", map[string]any{"name": "湖北省", "level": "province"})
	p.wuhan = p.created("/api/v1/regions", map[string]any{"name": "武汉市", "level": "city", "parent_id": p.province})
	p.jiangan = p.created("/api/v1/regions", map[string]any{"name": "江岸区", "level": "county", "parent_id": p.wuhan})
	p.huanggang = p.created("/api/v1/regions", map[string]any{"name": "黄冈市", "level": "city", "parent_id": p.province})
	p.macheng = p.created("/api/v1/regions", map[string]any{"name": "麻城市", "level": "county", "parent_id": p.huanggang})
	p.hongan = p.created("/api/v1/regions", map[string]any{"name": "红安县", "level": "county", "parent_id": p.huanggang})

	p.supporting = p.created("/api/v1/schools", map[string]any{"name": "武汉市第六中学", "region_id": p.jiangan, "stage": "senior", "code": "1142010001", "email": "office@whlz.example.cn"})
	p.supported = p.created("/api/v1/schools", map[string]any{"name": "麻城市第五中学", "region_id": p.macheng, "stage": "senior", "email": "office@mcwz.example.cn"})
	p.neighbour = p.created("/api/v1/schools", map[string]any{"name": "麻城市第三中学", "region_id": p.macheng, "stage": "junior"})
	p.far = p.created("/api/v1/schools", map[string]any{"name": "红安县第一中学", "region_id": p.hongan, "stage": "senior"})

	for _, term := range []map[string]any{
		{"school_year": "2025-2026", "season": "spring", "starts_on": "2026-02-01", "ends_on": "2026-08-31"},
		{"school_year": "2026-2027", "season": "autumn", "starts_on": "2026-09-01", "ends_on": "2027-01-31"},
		{"school_year": "2026-2027", "season": "spring", "starts_on": "2027-02-01", "ends_on": "2027-08-31"},
	} {
		p.created("/api/v1/terms", term)
	}

	p.pair = p.created("/api/v1/pairs", map[string]any{"supporting_school_id": p.supporting, "supported_school_id": p.supported,
		"starts_on": "2026-09-01", "round": "第一轮"})

	p.supportingCoord = p.newUser("coordinator", "coord@whlz.example.cn", "school_id", p.supporting)
	p.supportingPrin = p.newUser("principal", "head@whlz.example.cn", "school_id", p.supporting)
	p.supportedCoord = p.newUser("coordinator", "coord@mcwz.example.cn", "school_id", p.supported)
	p.supportedPrin = p.newUser("principal", "head@mcwz.example.cn", "school_id", p.supported)
	p.neighbourCoord = p.newUser("coordinator", "coord@mcsz.example.cn", "school_id", p.neighbour)
	p.farCoord = p.newUser("coordinator", "coord@hayz.example.cn", "school_id", p.far)
	p.bureauMacheng = p.newUser("bureau", "jyj@macheng.example.cn", "region_id", p.macheng)
	p.bureauHongan = p.newUser("bureau", "jyj@hongan.example.cn", "region_id", p.hongan)
	p.bureauWuhan = p.newUser("bureau", "jyj@wuhan.example.cn", "region_id", p.wuhan)

	r := p.api.Must(201, p.api.Do("POST", p.path("/api/v1/pairs/%d/agreements", p.pair), p.admin, map[string]any{
		"title": "2026—2027学年对口帮扶协议", "signed_on": "2026-08-25", "effective_from": "2026-09-01", "effective_to": "2027-08-31",
		"goals": "提升管理水平与课堂教学质量",
		"commitments": []map[string]any{
			{"categories": []string{"visit", "management_exchange"}, "measure": "count", "minimum": 2, "period": "term", "description": "每学期至少两次管理交流"},
			{"categories": []string{"visit"}, "measure": "count", "minimum": 1, "period": "month", "description": "每月实地指导"},
			{"categories": []string{"teaching_support"}, "measure": "hours", "minimum": 10, "period": "term", "description": "每学期送教10课时"},
		},
	}))
	var ag struct {
		ID          int64 `json:"id"`
		Commitments []struct {
			ID int64 `json:"id"`
		} `json:"commitments"`
	}
	mustDecode(t, r, &ag)
	if ag.ID == 0 || len(ag.Commitments) != 3 {
		t.Fatalf("agreement: %s", r.Body)
	}
	p.agreement = ag.ID
	p.termC, p.monthC, p.hoursC = ag.Commitments[0].ID, ag.Commitments[1].ID, ag.Commitments[2].ID
	return p
}

// path formats a URL path.
func (p *programme) path(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// created POSTs as admin, requires 201 and returns the new id.
func (p *programme) created(path string, body any) int64 {
	p.t.Helper()
	r := p.api.Must(201, p.api.Do("POST", path, p.admin, body))
	if r.ID() == 0 {
		p.t.Fatalf("POST %s: no id in %s", path, r.Body)
	}
	return r.ID()
}

// newUser creates a user as admin and logs it in.
func (p *programme) newUser(role, email, scopeField string, scopeID int64) user {
	p.t.Helper()
	body := map[string]any{"name": email, "email": email, "password": p.defaultPassword, "role": role}
	if scopeField != "" {
		body[scopeField] = scopeID
	}
	id := p.created("/api/v1/users", body)
	return user{ID: id, Email: email, Token: p.api.Login(email, p.defaultPassword)}
}

// logActivity logs as u and returns the response.
func (p *programme) logActivity(u user, body map[string]any, headers ...string) testutil.Response {
	p.t.Helper()
	return p.api.Do("POST", p.path("/api/v1/pairs/%d/activities", p.pair), u.Token, body, headers...)
}

// mustLog logs as u, requires 201 and returns the id.
func (p *programme) mustLog(u user, category, title, occurred string, extra ...any) int64 {
	p.t.Helper()
	body := map[string]any{"category": category, "title": title, "occurred_on": occurred}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i].(string)] = extra[i+1]
	}
	r := p.api.Must(201, p.logActivity(u, body))
	return r.ID()
}

// activity fetches an activity as u.
func (p *programme) activity(u user, id int64) activityJSON {
	p.t.Helper()
	var a activityJSON
	mustDecode(p.t, p.api.Must(200, p.api.Do("GET", p.path("/api/v1/activities/%d", id), u.Token, nil)), &a)
	return a
}

// count counts the rows of a table straight from the database.
func (p *programme) count(table string, where ...any) int64 {
	p.t.Helper()
	return countRows(p.t, p.db, table, where...)
}

func countRows(t *testing.T, db *database.DB, table string, where ...any) int64 {
	t.Helper()
	var n int64
	q := db.Gorm().Table(table)
	if len(where) > 0 {
		q = q.Where(where[0], where[1:]...)
	}
	if err := q.Count(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

type activityJSON struct {
	ID               int64          `json:"id"`
	PairID           int64          `json:"pair_id"`
	Category         string         `json:"category"`
	Title            string         `json:"title"`
	OccurredOn       string         `json:"occurred_on"`
	Hours            float64        `json:"hours"`
	Persons          int            `json:"persons"`
	Status           string         `json:"status"`
	LoggedByUserID   int64          `json:"logged_by_user_id"`
	LoggedBySchoolID int64          `json:"logged_by_school_id"`
	DecidedByUserID  *int64         `json:"decided_by_user_id"`
	DisputeReason    string         `json:"dispute_reason"`
	Term             *string        `json:"term"`
	Evidence         []evidenceJSON `json:"evidence"`
}

type evidenceJSON struct {
	ID          int64  `json:"id"`
	ActivityID  int64  `json:"activity_id"`
	FileName    string `json:"file_name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

type listJSON[T any] struct {
	Items  []T   `json:"items"`
	Limit  int   `json:"limit"`
	Offset int   `json:"offset"`
	Total  int64 `json:"total"`
}

type complianceItem struct {
	CommitmentID int64    `json:"commitment_id"`
	Categories   []string `json:"categories"`
	Measure      string   `json:"measure"`
	Period       string   `json:"period"`
	PeriodKey    string   `json:"period_key"`
	PeriodStart  string   `json:"period_start"`
	PeriodEnd    string   `json:"period_end"`
	Required     float64  `json:"required"`
	Achieved     float64  `json:"achieved"`
	Pending      float64  `json:"pending"`
	Status       string   `json:"status"`
	DaysLeft     int      `json:"days_left"`
}

type pairReport struct {
	PairID int64            `json:"pair_id"`
	At     string           `json:"at"`
	Items  []complianceItem `json:"items"`
}

type scopeReport struct {
	At      string         `json:"at"`
	Summary map[string]int `json:"summary"`
	Items   []pairReport   `json:"items"`
	Limit   int            `json:"limit"`
	Offset  int            `json:"offset"`
	Total   int64          `json:"total"`
}

type auditEntry struct {
	ID       int64           `json:"id"`
	UserID   *int64          `json:"user_id"`
	Action   string          `json:"action"`
	Entity   string          `json:"entity"`
	EntityID *int64          `json:"entity_id"`
	Details  json.RawMessage `json:"details"`
}

// want is the expected state of one commitment in one period.
type want struct {
	commitment int64
	key        string
	required   float64
	achieved   float64
	pending    float64
	status     string
}

// checkItems requires items to be exactly ws, in any order.
func checkItems(t *testing.T, label string, items []complianceItem, ws ...want) {
	t.Helper()
	got := map[string]complianceItem{}
	for _, it := range items {
		k := fmt.Sprintf("%d/%s", it.CommitmentID, it.PeriodKey)
		if _, dup := got[k]; dup {
			t.Errorf("%s: item %s twice", label, k)
		}
		got[k] = it
	}
	for _, w := range ws {
		k := fmt.Sprintf("%d/%s", w.commitment, w.key)
		it, ok := got[k]
		if !ok {
			t.Errorf("%s: no item %s (have %v)", label, k, keys(got))
			continue
		}
		if it.Required != w.required || it.Achieved != w.achieved || it.Pending != w.pending || it.Status != w.status {
			t.Errorf("%s: %s is required %v achieved %v pending %v %s; want required %v achieved %v pending %v %s",
				label, k, it.Required, it.Achieved, it.Pending, it.Status, w.required, w.achieved, w.pending, w.status)
		}
	}
	if len(items) != len(ws) {
		t.Errorf("%s: %d items %v, want %d", label, len(items), keys(got), len(ws))
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// pairCompliance reads GET /pairs/:id/compliance?at= as u.
func (p *programme) pairCompliance(u string, at string) pairReport {
	p.t.Helper()
	var rep pairReport
	mustDecode(p.t, p.api.Must(200, p.api.Do("GET", p.path("/api/v1/pairs/%d/compliance?at=%s", p.pair, at), u, nil)), &rep)
	if rep.PairID != p.pair || rep.At != at {
		p.t.Fatalf("compliance report of pair %d at %s, want pair %d at %s", rep.PairID, rep.At, p.pair, at)
	}
	return rep
}

// scopeCompliance reads GET /compliance?at= as u.
func (p *programme) scopeCompliance(u string, query string) scopeReport {
	p.t.Helper()
	var rep scopeReport
	mustDecode(p.t, p.api.Must(200, p.api.Do("GET", "/api/v1/compliance?"+query, u, nil)), &rep)
	return rep
}

func mustDecode(t *testing.T, r testutil.Response, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
}

// expectError requires status and, when field is set, that error.fields
// names it; otherwise that error.code is code.
func expectError(t *testing.T, label string, r testutil.Response, status int, field, code string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %d, want %d: %s", label, r.Status, status, r.Body)
		return
	}
	if field != "" && r.Field(field) == "" {
		t.Errorf("%s: error.fields does not name %q: %s", label, field, r.Body)
	}
	if code != "" && r.Code() != code {
		t.Errorf("%s: error.code %q, want %q: %s", label, r.Code(), code, r.Body)
	}
	if r.Code() == "" {
		t.Errorf("%s: no error.code in %s", label, r.Body)
	}
}

// pngBytes is a real 2×2 PNG.
func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pdfBytes is a minimal PDF document.
func pdfBytes() []byte {
	return []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
}

// bigPNG is a PNG-headed payload of n bytes.
func bigPNG(t *testing.T, n int) []byte {
	head := pngBytes(t)
	out := make([]byte, n)
	copy(out, head)
	return out
}

// raw sends a request with any body reader (a non-bytes reader makes the
// body chunked: ContentLength -1) and headers.
func raw(api *testutil.API, method, path, token, contentType string, body io.Reader, headers ...string) testutil.Response {
	req := httptest.NewRequest(method, path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	api.A.HTTP.Handler().ServeHTTP(rec, req)
	return testutil.Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// multipartBody is a multipart/form-data body with one file.
func multipartBody(t *testing.T, field, name string, content []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, err := w.CreateFormFile(field, name)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(content)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

// onlyReader hides the concrete type of a reader, so httptest cannot know
// its length.
type onlyReader struct{ io.Reader }
