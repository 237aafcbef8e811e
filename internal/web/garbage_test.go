package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/testutil"
)

type route struct{ method, path string }

// writeRoutes reads the route table (routes.go) and returns every POST,
// PUT and PATCH route with its full path, following the Group prefixes.
func writeRoutes(t *testing.T) []route {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "routes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	prefix := map[string]string{"e": ""}
	var out []route
	lit := func(e ast.Expr) (string, bool) {
		b, ok := e.(*ast.BasicLit)
		if !ok || b.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(b.Value)
		return s, err == nil
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt: // api := e.Group("/api/v1")
			if len(n.Lhs) != 1 || len(n.Rhs) != 1 {
				return true
			}
			name, ok1 := n.Lhs[0].(*ast.Ident)
			call, ok2 := n.Rhs[0].(*ast.CallExpr)
			if !ok1 || !ok2 || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Group" {
				return true
			}
			parent, ok := sel.X.(*ast.Ident)
			p, ok2 := lit(call.Args[0])
			if ok && ok2 {
				prefix[name.Name] = prefix[parent.Name] + p
			}
		case *ast.CallExpr: // v.POST("/pairs", ...)
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok || len(n.Args) == 0 {
				return true
			}
			switch sel.Sel.Name {
			case http.MethodPost, http.MethodPut, http.MethodPatch:
			default:
				return true
			}
			group, ok := sel.X.(*ast.Ident)
			p, ok2 := lit(n.Args[0])
			if !ok || !ok2 {
				return true
			}
			pre, known := prefix[group.Name]
			if !known {
				t.Errorf("routes.go: %s.%s(%q) on an unknown group", group.Name, sel.Sel.Name, p)
			}
			out = append(out, route{sel.Sel.Name, pre + p})
		}
		return true
	})
	return out
}

// inputs are the bodies of the write routes, for bodies of the right shape
// with values at and beyond the edges.
var inputs = map[route]reflect.Type{
	{"POST", "/api/v1/auth/login"}:                  reflect.TypeFor[auth.LoginInput](),
	{"POST", "/api/v1/regions"}:                     reflect.TypeFor[school.RegionInput](),
	{"POST", "/api/v1/schools"}:                     reflect.TypeFor[school.SchoolInput](),
	{"PATCH", "/api/v1/schools/:id"}:                reflect.TypeFor[school.SchoolPatch](),
	{"POST", "/api/v1/users"}:                       reflect.TypeFor[auth.UserInput](),
	{"POST", "/api/v1/terms"}:                       reflect.TypeFor[calendar.TermInput](),
	{"POST", "/api/v1/pairs"}:                       reflect.TypeFor[pairing.PairInput](),
	{"PATCH", "/api/v1/pairs/:id"}:                  reflect.TypeFor[pairing.PairPatch](),
	{"POST", "/api/v1/pairs/:id/agreements"}:        reflect.TypeFor[pairing.AgreementInput](),
	{"POST", "/api/v1/pairs/:id/activities"}:        reflect.TypeFor[activity.Input](),
	{"POST", "/api/v1/pairs/:id/activities/import"}: reflect.TypeFor[activity.ImportInput](),
	{"PATCH", "/api/v1/activities/:id"}:             reflect.TypeFor[activity.Patch](),
	{"POST", "/api/v1/activities/:id/dispute"}:      reflect.TypeFor[activity.DisputeInput](),
	// lifecycle
	{"PATCH", "/api/v1/regions/:id"}:               reflect.TypeFor[school.RegionPatch](),
	{"PATCH", "/api/v1/terms/:id"}:                 reflect.TypeFor[calendar.TermPatch](),
	{"PATCH", "/api/v1/agreements/:id"}:            reflect.TypeFor[pairing.AgreementPatch](),
	{"POST", "/api/v1/agreements/:id/commitments"}: reflect.TypeFor[pairing.CommitmentInput](),
	{"PATCH", "/api/v1/commitments/:id"}:           reflect.TypeFor[pairing.CommitmentPatch](),
}

// garbage is sent to every write route, whatever it expects.
var garbage = []string{
	``, ` `, `null`, `true`, `0`, `-1`, `"x"`, `[]`, `[{}]`, `{}`, `{`, `}`, `{"`, `{"a":}`, `{"a":1,}`, `{"a" 1}`,
	`{}{}`, `{} x`, `{"id":1}`, `{"__proto__":{}}`, "\xff\xfe\xfd", "{\"title\":\"\xff\xfe\"}", `{"title":"\u0000"}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	`{"a":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat("}", 5001),
	`{"commitments":[null]}`, `{"commitments":null}`, `{"commitments":{}}`, `{"commitments":[1]}`, `{"commitments":[[]]}`,
	`{"minimum":1e400}`, `{"commitments":[{"minimum":1e400}]}`, `{"hours":-0}`, `{"hours":1e-400}`, `{"persons":1e3}`,
	`{"occurred_on":{}}`, `{"occurred_on":[]}`, `{"occurred_on":true}`, `{"starts_on":"0000-00-00"}`, `{"ends_on":"9999-99-99"}`,
	`{"status":null}`, `{"round":null}`, `{"school_id":-1}`, `{"region_id":9223372036854775807}`, `{"parent_id":-9223372036854775808}`,
	`{"email":["a"]}`, `{"password":{"a":1}}`, `{"reason":12}`, `{"category":"visit","title":"t","occurred_on":"2026-10-15","extra":1}`,
}

// contentTypes are sent with some of the garbage.
var contentTypes = []string{"application/json", "application/json; charset=utf-8", "text/plain", "application/xml",
	"application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "application/json; charset=latin1", ""}

// TestNoServerErrorOnGarbage: no body, however wrong, makes any write
// route answer 5xx, for any kind of caller; every refusal of the API has an
// error code, every refusal of a web page is an HTML page.
func TestNoServerErrorOnGarbage(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		routes := writeRoutes(t)
		if len(routes) < 15 || !slices.Contains(routes, route{"POST", "/api/v1/pairs/:id/activities"}) || !slices.Contains(routes, route{"PATCH", "/api/v1/pairs/:id"}) {
			t.Fatalf("routes.go yields only %v", routes)
		}
		for r := range inputs {
			if !slices.Contains(routes, r) {
				t.Errorf("%s %s is not in routes.go any more", r.method, r.path)
			}
		}
		// things the routes' :id can be
		act := p.mustLog(p.supportingCoord, "visit", "实地指导", "2026-10-15")
		ids := map[string]int64{"pairs": p.pair, "schools": p.supported, "activities": act, "regions": p.macheng,
			"agreements": p.agreement, "commitments": p.monthC, "terms": 1}
		callers := map[string]string{"admin": p.admin, "bureau": p.bureauMacheng.Token, "coordinator": p.supportingCoord.Token, "principal": p.supportedPrin.Token, "nobody": ""}
		rnd := rand.New(rand.NewPCG(2026, 11))
		sent, failures := 0, 0
		statuses := map[string]map[int]int{}
		check := func(rt route, path, who, ctype string, body []byte, r testutil.Response) {
			sent++
			k := rt.method + " " + rt.path
			if statuses[k] == nil {
				statuses[k] = map[int]int{}
			}
			statuses[k][r.Status]++
			bad := r.Status >= 500
			if r.Status >= 400 && !strings.HasPrefix(rt.path, "/api/") {
				// a web page's form: a refusal is an HTML page (without a
				// session and a CSRF token, every one is refused)
				bad = bad || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || len(r.Body) == 0
			} else if r.Status >= 400 {
				var e struct {
					Error struct {
						Code string `json:"code"`
					} `json:"error"`
				}
				if json.Unmarshal(r.Body, &e) != nil || e.Error.Code == "" {
					bad = true
				}
			}
			if bad && failures < 25 {
				failures++
				shown := string(body)
				if r := []rune(shown); len(r) > 200 {
					shown = string(r[:200]) + "…"
				}
				t.Errorf("%s %s as %s (%s) with %q: %d %s", rt.method, path, who, ctype, shown, r.Status, r.Body)
			}
		}
		for _, rt := range routes {
			segment := strings.Split(strings.TrimPrefix(rt.path, "/api/v1/"), "/")[0]
			paths := []string{rt.path}
			if strings.Contains(rt.path, ":id") {
				paths = []string{
					strings.Replace(rt.path, ":id", strconv.FormatInt(ids[segment], 10), 1),
					strings.Replace(rt.path, ":id", "987654", 1),
					strings.Replace(rt.path, ":id", "-1", 1),
					strings.Replace(rt.path, ":id", "1e3", 1),
					strings.Replace(rt.path, ":id", "99999999999999999999", 1),
				}
			}
			// shapeless garbage, as several callers, with several content types
			for i, g := range garbage {
				for _, path := range paths[:min(len(paths), 2)] {
					for _, who := range []string{"admin", "coordinator"} {
						ctype := contentTypes[(i+len(who))%len(contentTypes)]
						r := raw(p.api, rt.method, path, callers[who], ctype, strings.NewReader(g))
						check(rt, path, who, ctype, []byte(g), r)
					}
				}
			}
			// keep the pair open for the next route's bodies
			p.api.Do("PATCH", p.path("/api/v1/pairs/%d", p.pair), p.admin, map[string]any{"status": "active", "starts_on": "2026-09-01", "ends_on": ""})
			// bodies of the right shape, values at the edges
			typ, ok := inputs[rt]
			if !ok {
				continue
			}
			for i := 0; i < 80; i++ {
				var v any
				if i%2 == 0 {
					v = edgeValue(rnd, typ, ids)
				} else {
					v = mutate(rnd, validBody(p, rt, i), typ, ids)
				}
				body, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				for who, tok := range callers {
					if who == "nobody" && i > 2 {
						continue
					}
					path := paths[0]
					if i%10 == 9 {
						path = paths[rnd.IntN(len(paths))]
					}
					r := raw(p.api, rt.method, path, tok, "application/json", bytes.NewReader(body))
					check(rt, path, who, "application/json", body, r)
				}
			}
		}
		// multipart garbage for the upload route
		ev := p.path("/api/v1/activities/%d/evidence", act)
		for i, body := range []string{
			"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n\x89PNG\r\n--xyz--\r\n",
			"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nnot a file\r\n--xyz--\r\n",
			"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\"\r\n\r\n\r\n--xyz--\r\n",
			"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../../etc/passwd\"\r\n\r\n%PDF-1.4\r\n--xyz--\r\n",
			"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n\x89PNG\r\n\x1a\n",
			"--xyz\r\n\r\n--xyz--\r\n",
			"--abc\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\nx\r\n--abc--\r\n",
			"", "garbage", "--xyz--",
		} {
			for _, ctype := range []string{"multipart/form-data; boundary=xyz", "multipart/form-data", "multipart/mixed; boundary=xyz"} {
				r := raw(p.api, "POST", ev, p.supportingCoord.Token, ctype, strings.NewReader(body))
				check(route{"POST", "/api/v1/activities/:id/evidence"}, ev, "coordinator", ctype, []byte(body), r)
				if i == 0 && ctype == contentTypes[0] {
					break
				}
			}
		}
		t.Logf("%d requests to %d write routes", sent, len(routes))
		for _, rt := range routes {
			t.Logf("%s %s: %v", rt.method, rt.path, statuses[rt.method+" "+rt.path])
		}
	})
}

// edgeValue builds a value of type typ (as JSON-encodable data) with
// values at and beyond the edges of what the API takes.
func edgeValue(rnd *rand.Rand, typ reflect.Type, ids map[string]int64) any {
	pick := func(vs ...any) any { return vs[rnd.IntN(len(vs))] }
	if typ.Kind() == reflect.Pointer {
		if rnd.IntN(8) == 0 {
			return nil
		}
		typ = typ.Elem()
	}
	if typ.Kind() == reflect.Struct && strings.HasSuffix(typ.PkgPath(), "/internal/patch") {
		// a merge-patch member: null, or a value of its type
		if rnd.IntN(8) == 0 {
			return nil
		}
		typ = typ.Field(2).Type
	}
	if typ == reflect.TypeFor[date.Date]() {
		return pick("2026-10-15", "2026-09-01", "2026-11-02", "2026-11-03", "2027-08-31", "0000-01-01", "0001-01-01",
			"9999-12-31", "1970-01-01", "2024-02-29", "", nil, "2026-02-29", "2026-9-1")
	}
	switch typ.Kind() {
	case reflect.Struct:
		out := map[string]any{}
		var fill func(t reflect.Type)
		fill = func(t reflect.Type) {
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				if f.Anonymous {
					fill(f.Type)
					continue
				}
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "" || name == "-" || !f.IsExported() || rnd.IntN(7) == 0 {
					continue
				}
				out[name] = edgeValue(rnd, f.Type, ids)
			}
		}
		fill(typ)
		return out
	case reflect.String:
		return pick("", " ", "x", "visit", "secondment", "count", "hours", "persons", "month", "term", "school_year", "agreement",
			"autumn", "spring", "2026-2027", "2026-2028", "coordinator", "principal", "bureau", "admin", "senior", "county", "city",
			"province", "zh-CN", "en", "pending", "confirmed", "disputed", "withdrawn", "active", "suspended", "ended",
			"x@example.cn", "COORD@whlz.example.cn", "1234567890", "-123456789", "1e10000000",
			strings.Repeat("长", 60), strings.Repeat("长", 201), strings.Repeat("😀", 255), strings.Repeat("a", 5001),
			strings.Repeat("密码", 40), "a\x00b", "'; DROP TABLE pairs; --", "%_%", "\u202eevil", "<script>alert(1)</script>")
	case reflect.Int, reflect.Int64:
		return pick(0, 1, 2, 3, 7, -1, math.MaxInt64, math.MinInt64, 987654, 10000, 10001,
			ids["pairs"], ids["schools"], ids["activities"], ids["regions"])
	case reflect.Float64:
		return pick(0, -0.5, 0.29, 1.15, 1.255, 0.005, 1e300, -1e300, 2, 10, 1000, 1000.01, 100000, 100000.01, 5e-324, 1.5)
	case reflect.Bool:
		return pick(true, false)
	case reflect.Slice:
		n := pick(0, 1, 2, 3, 15, 51).(int)
		if rnd.IntN(10) == 0 {
			return nil
		}
		out := make([]any, n)
		for i := range out {
			out[i] = edgeValue(rnd, typ.Elem(), ids)
		}
		return out
	}
	panic(fmt.Sprintf("edgeValue: no values for %s", typ))
}

// validBody is a body route rt accepts (the i-th of a series, so that
// unique fields differ).
func validBody(p *programme, rt route, i int) map[string]any {
	year := 2030 + i
	switch rt {
	case route{"POST", "/api/v1/auth/login"}:
		return map[string]any{"email": p.supportingCoord.Email, "password": p.defaultPassword}
	case route{"POST", "/api/v1/regions"}:
		return map[string]any{"name": "新区", "level": "county", "parent_id": p.huanggang}
	case route{"POST", "/api/v1/schools"}:
		return map[string]any{"name": "新学校", "region_id": p.macheng, "stage": "primary", "code": fmt.Sprintf("42%08d", i), "email": "x@example.cn"}
	case route{"PATCH", "/api/v1/schools/:id"}:
		return map[string]any{"name": "改名", "stage": "senior"}
	case route{"POST", "/api/v1/users"}:
		return map[string]any{"name": "新用户", "email": fmt.Sprintf("u%d@example.cn", i), "password": "long-enough-1", "role": "coordinator", "school_id": p.neighbour}
	case route{"POST", "/api/v1/terms"}:
		return map[string]any{"school_year": fmt.Sprintf("%d-%d", year, year+1), "season": "autumn", "starts_on": fmt.Sprintf("%d-09-01", year), "ends_on": fmt.Sprintf("%d-01-31", year+1)}
	case route{"POST", "/api/v1/pairs"}:
		return map[string]any{"supporting_school_id": p.supporting, "supported_school_id": p.neighbour, "starts_on": "2026-09-01", "round": "第一轮"}
	case route{"PATCH", "/api/v1/pairs/:id"}:
		return map[string]any{"round": "第二轮"}
	case route{"POST", "/api/v1/pairs/:id/agreements"}:
		return map[string]any{"title": "协议", "effective_from": fmt.Sprintf("%d-09-01", year), "effective_to": fmt.Sprintf("%d-08-31", year+1),
			"commitments": []any{map[string]any{"categories": []any{"visit"}, "measure": "count", "minimum": 2, "period": "term"}}}
	case route{"POST", "/api/v1/pairs/:id/activities"}, route{"PATCH", "/api/v1/activities/:id"}:
		return map[string]any{"category": "visit", "title": "实地指导", "occurred_on": "2026-10-15", "hours": 2, "persons": 3}
	case route{"POST", "/api/v1/pairs/:id/activities/import"}:
		return map[string]any{"category": "visit", "title": "实地指导", "occurred_on": "2026-10-15", "logged_by_school_id": p.supporting, "status": "confirmed"}
	case route{"POST", "/api/v1/activities/:id/dispute"}:
		return map[string]any{"reason": "不属实"}
	}
	return map[string]any{}
}

// mutate sets one or two fields of body (of type typ) to edge values,
// sometimes inside the first element of a list of objects.
func mutate(rnd *rand.Rand, body map[string]any, typ reflect.Type, ids map[string]int64) map[string]any {
	var fields []reflect.StructField
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.Anonymous {
				collect(f.Type)
			} else if f.IsExported() && f.Tag.Get("json") != "" {
				fields = append(fields, f)
			}
		}
	}
	collect(typ)
	for n := 1 + rnd.IntN(2); n > 0; n-- {
		f := fields[rnd.IntN(len(fields))]
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
			if list, ok := body[name].([]any); ok && len(list) > 0 && rnd.IntN(4) != 0 {
				first, _ := list[0].(map[string]any)
				list[0] = mutate(rnd, first, f.Type.Elem(), ids)
				continue
			}
		}
		body[name] = edgeValue(rnd, f.Type, ids)
	}
	return body
}
