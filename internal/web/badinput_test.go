package web_test

import (
	"bytes"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// badCase is one request that must be refused with status, naming field in
// error.fields (or, where no field is to blame, answering error.code).
type badCase struct {
	name    string
	method  string
	path    func(p *programme) string
	as      func(p *programme) string
	body    any
	headers []string
	status  int
	field   string
	code    string
}

func asAdmin(p *programme) string { return p.admin }
func asCoord(p *programme) string { return p.supportingCoord.Token }
func asPrin(p *programme) string  { return p.supportedPrin.Token }

func fixed(path string) func(*programme) string { return func(*programme) string { return path } }
func pairPath(suffix string) func(*programme) string {
	return func(p *programme) string { return p.path("/api/v1/pairs/%d%s", p.pair, suffix) }
}

// with returns base overridden by kv pairs (a nil value deletes the key).
func with(base map[string]any, kv ...any) map[string]any {
	out := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

var (
	goodActivity = map[string]any{"category": "visit", "title": "实地指导", "occurred_on": "2026-10-15"}
	goodCommit   = map[string]any{"categories": []string{"visit"}, "measure": "count", "minimum": 2, "period": "term"}
	// the next school year: does not overlap the fixture's agreement
	goodAgreement = map[string]any{"title": "2027—2028学年协议", "effective_from": "2027-09-01", "effective_to": "2028-08-31",
		"commitments": []map[string]any{goodCommit}}
)

func agreementWith(commitments ...map[string]any) map[string]any {
	return with(goodAgreement, "commitments", commitments)
}

func badCases() []badCase {
	activities := pairPath("/activities")
	agreements := pairPath("/agreements")
	return []badCase{
		// unreadable bodies: 400
		{name: "malformed JSON", method: "POST", path: activities, as: asCoord, body: `{"category": "visit", "title": `, status: 400, code: "malformed_request"},
		{name: "JSON syntax error", method: "POST", path: activities, as: asCoord, body: `{"category": visit}`, status: 400, code: "malformed_request"},
		{name: "trailing data", method: "POST", path: activities, as: asCoord, body: `{"category":"visit","title":"t","occurred_on":"2026-10-15"} {}`, status: 400, code: "malformed_request"},
		{name: "not an object", method: "POST", path: activities, as: asCoord, body: `["visit"]`, status: 400, code: "malformed_request"},
		{name: "not JSON", method: "POST", path: fixed("/api/v1/schools"), as: asAdmin, body: "name=x", headers: []string{"Content-Type", "text/plain"}, status: 400, code: "malformed_request"},
		{name: "unknown field", method: "POST", path: activities, as: asCoord, body: with(goodActivity, "colour", "red"), status: 400, field: "colour", code: "malformed_request"},
		{name: "unknown field in a school", method: "POST", path: fixed("/api/v1/schools"), as: asAdmin, body: map[string]any{"name": "x", "region_id": 1, "stage": "senior", "principal": "张三"}, status: 400, field: "principal"},
		{name: "minimum as a string", method: "POST", path: agreements, as: asAdmin,
			body:   `{"title":"x","effective_from":"2027-09-01","effective_to":"2028-08-31","commitments":[{"categories":["visit"],"measure":"count","minimum":"2","period":"term"}]}`,
			status: 400, field: "commitments[0].minimum", code: "malformed_request"},
		{name: "second minimum as a string", method: "POST", path: agreements, as: asAdmin,
			body:   `{"title":"x","effective_from":"2027-09-01","effective_to":"2028-08-31","commitments":[{"categories":["visit"],"measure":"count","minimum":2,"period":"term"},{"categories":["visit"],"measure":"count","minimum":"2","period":"month"}]}`,
			status: 400, field: "commitments[1].minimum"},
		{name: "category as a number", method: "POST", path: agreements, as: asAdmin,
			body:   `{"title":"x","effective_from":"2027-09-01","effective_to":"2028-08-31","commitments":[{"categories":[7],"measure":"count","minimum":2,"period":"term"}]}`,
			status: 400, field: "commitments[0].categories[0]"},
		{name: "hours as a string", method: "POST", path: activities, as: asCoord, body: `{"category":"teaching_support","title":"t","occurred_on":"2026-10-15","hours":"2"}`, status: 400, field: "hours"},
		{name: "persons as a fraction", method: "POST", path: activities, as: asCoord, body: `{"category":"secondment","title":"t","occurred_on":"2026-10-15","persons":1.5}`, status: 400, field: "persons"},
		{name: "region id as a string", method: "POST", path: fixed("/api/v1/schools"), as: asAdmin, body: `{"name":"x","region_id":"3","stage":"senior"}`, status: 400, field: "region_id"},
		{name: "school id overflowing", method: "POST", path: fixed("/api/v1/pairs"), as: asAdmin, body: `{"supporting_school_id":99999999999999999999,"supported_school_id":2,"starts_on":"2026-09-01"}`, status: 400, field: "supporting_school_id"},

		// dates
		{name: "month 13", method: "POST", path: activities, as: asCoord, body: with(goodActivity, "occurred_on", "2026-13-01"), status: 400, field: "occurred_on"},
		{name: "30 February", method: "POST", path: agreements, as: asAdmin, body: with(goodAgreement, "effective_to", "2028-02-30"), status: 400, field: "effective_to"},
		{name: "slashed date", method: "POST", path: fixed("/api/v1/terms"), as: asAdmin, body: map[string]any{"school_year": "2030-2031", "season": "autumn", "starts_on": "2030/09/01", "ends_on": "2031-01-31"}, status: 400, field: "starts_on"},
		{name: "date as a number", method: "POST", path: fixed("/api/v1/pairs"), as: asAdmin, body: `{"supporting_school_id":1,"supported_school_id":3,"starts_on":20260901}`, status: 400, field: "starts_on"},
		{name: "date with a time", method: "PATCH", path: pairPath(""), as: asAdmin, body: map[string]any{"ends_on": "2027-08-31T00:00:00Z"}, status: 400, field: "ends_on"},
		{name: "future occurred_on", method: "POST", path: activities, as: asCoord, body: with(goodActivity, "occurred_on", "2026-11-03"), status: 422, field: "occurred_on", code: "validation_failed"},
		{name: "occurred_on before the pair", method: "POST", path: activities, as: asCoord, body: with(goodActivity, "occurred_on", "2026-08-31"), status: 422, field: "occurred_on"},
		{name: "occurred_on missing", method: "POST", path: activities, as: asCoord, body: with(goodActivity, "occurred_on", nil), status: 422, field: "occurred_on"},
		{name: "ends before it starts", method: "POST", path: fixed("/api/v1/terms"), as: asAdmin, body: map[string]any{"school_year": "2030-2031", "season": "autumn", "starts_on": "2030-09-01", "ends_on": "2030-08-31"}, status: 422, field: "ends_on"},
		{name: "agreement before the pair", method: "POST", path: agreements, as: asAdmin, body: with(goodAgreement, "effective_from", "2026-08-01", "effective_to", "2026-08-31"), status: 422, field: "effective_from"},

		// unknown codes: 422
		{name: "unknown category", method: "POST", path: activities, as: asCoord, body: with(goodActivity, "category", "picnic"), status: 422, field: "category"},
		{name: "unknown commitment category", method: "POST", path: agreements, as: asAdmin, body: agreementWith(with(goodCommit, "categories", []string{"visit", "picnic"})), status: 422, field: "commitments[0].categories"},
		{name: "category twice", method: "POST", path: agreements, as: asAdmin, body: agreementWith(with(goodCommit, "categories", []string{"visit", "visit"})), status: 422, field: "commitments[0].categories"},
		{name: "unknown measure", method: "POST", path: agreements, as: asAdmin, body: agreementWith(with(goodCommit, "measure", "minutes")), status: 422, field: "commitments[0].measure"},
		{name: "unknown period", method: "POST", path: agreements, as: asAdmin, body: agreementWith(with(goodCommit, "period", "week")), status: 422, field: "commitments[0].period"},
		{name: "unknown stage", method: "POST", path: fixed("/api/v1/schools"), as: asAdmin, body: map[string]any{"name": "x", "region_id": 5, "stage": "university"}, status: 422, field: "stage"},
		{name: "unknown role", method: "POST", path: fixed("/api/v1/users"), as: asAdmin, body: map[string]any{"name": "x", "email": "x@example.cn", "password": "long-enough-1", "role": "teacher"}, status: 422, field: "role"},
		{name: "unknown level", method: "POST", path: fixed("/api/v1/regions"), as: asAdmin, body: map[string]any{"name": "x", "level": "town", "parent_id": 5}, status: 422, field: "level"},
		{name: "unknown season", method: "POST", path: fixed("/api/v1/terms"), as: asAdmin, body: map[string]any{"school_year": "2030-2031", "season": "summer", "starts_on": "2030-09-01", "ends_on": "2031-01-31"}, status: 422, field: "season"},
		{name: "bad school year", method: "POST", path: fixed("/api/v1/terms"), as: asAdmin, body: map[string]any{"school_year": "2030-2032", "season": "autumn", "starts_on": "2030-09-01", "ends_on": "2031-01-31"}, status: 422, field: "school_year"},
		{name: "unknown pair status", method: "PATCH", path: pairPath(""), as: asAdmin, body: map[string]any{"status": "paused"}, status: 422, field: "status"},
		{name: "unknown locale", method: "POST", path: fixed("/api/v1/users"), as: asAdmin, body: map[string]any{"name": "x", "email": "x@example.cn", "password": "long-enough-1", "role": "coordinator", "school_id": 1, "locale": "fr"}, status: 422, field: "locale"},

		// quotas
		{name: "zero minimum", method: "POST", path: agreements, as: asAdmin, body: agreementWith(with(goodCommit, "minimum", 0)), status: 422, field: "commitments[0].minimum"},
		{name: "negative minimum", method: "POST", path: agreements, as: asAdmin, body: agreementWith(with(goodCommit, "minimum", -2)), status: 422, field: "commitments[0].minimum"},
		{name: "fractional count", method: "POST", path: agreements, as: asAdmin, body: agreementWith(goodCommit, with(goodCommit, "minimum", 1.5)), status: 422, field: "commitments[1].minimum"},
		{name: "no commitments", method: "POST", path: agreements, as: asAdmin, body: agreementWith(), status: 422, field: "commitments"},
		{name: "negative hours", method: "POST", path: activities, as: asCoord, body: with(goodActivity, "hours", -1), status: 422, field: "hours"},
		{name: "three decimals of hours", method: "POST", path: activities, as: asCoord, body: with(goodActivity, "hours", 1.255), status: 422, field: "hours"},
		{name: "zero persons", method: "POST", path: activities, as: asCoord, body: with(goodActivity, "persons", 0), status: 422, field: "persons"},
		{name: "title missing", method: "POST", path: activities, as: asCoord, body: with(goodActivity, "title", nil), status: 422, field: "title"},
		{name: "title blank", method: "POST", path: activities, as: asCoord, body: with(goodActivity, "title", "   "), status: 422, field: "title"},
		{name: "title too long", method: "POST", path: activities, as: asCoord, body: with(goodActivity, "title", strings.Repeat("长", 201)), status: 422, field: "title"},
		{name: "idempotency key too long", method: "POST", path: activities, as: asCoord, body: goodActivity, headers: []string{"Idempotency-Key", strings.Repeat("k", 256)}, status: 422, field: "Idempotency-Key"},
		{name: "dispute without reason", method: "POST", path: func(p *programme) string {
			return p.path("/api/v1/activities/%d/dispute", p.mustLog(p.supportingCoord, "visit", "t", "2026-10-01"))
		}, as: asPrin, body: map[string]any{"reason": "  "}, status: 422, field: "reason"},

		// schools and users
		{name: "school paired with itself", method: "POST", path: fixed("/api/v1/pairs"), as: asAdmin, body: func(p *programme) any {
			return map[string]any{"supporting_school_id": p.supporting, "supported_school_id": p.supporting, "starts_on": "2026-09-01"}
		}, status: 422, field: "supported_school_id"},
		{name: "pair of an unknown school", method: "POST", path: fixed("/api/v1/pairs"), as: asAdmin, body: func(p *programme) any {
			return map[string]any{"supporting_school_id": p.supporting, "supported_school_id": 987654, "starts_on": "2026-09-01"}
		}, status: 422, field: "supported_school_id"},
		{name: "short school code", method: "POST", path: fixed("/api/v1/schools"), as: asAdmin, body: map[string]any{"name": "x", "region_id": 5, "stage": "senior", "code": "12345"}, status: 422, field: "code"},
		{name: "school code with a sign", method: "POST", path: fixed("/api/v1/schools"), as: asAdmin, body: map[string]any{"name": "x", "region_id": 5, "stage": "senior", "code": "-123456789"}, status: 422, field: "code"},
		{name: "school code with a dot", method: "POST", path: fixed("/api/v1/schools"), as: asAdmin, body: map[string]any{"name": "x", "region_id": 5, "stage": "senior", "code": "1234.56789"}, status: 422, field: "code"},
		{name: "short password", method: "POST", path: fixed("/api/v1/users"), as: asAdmin, body: map[string]any{"name": "x", "email": "x@example.cn", "password": "short", "role": "coordinator", "school_id": 1}, status: 422, field: "password"},
		{name: "password over 128 characters", method: "POST", path: fixed("/api/v1/users"), as: asAdmin, body: map[string]any{"name": "x", "email": "x@example.cn", "password": strings.Repeat("密码", 65), "role": "coordinator", "school_id": 1}, status: 422, field: "password"},
		{name: "bad email", method: "POST", path: fixed("/api/v1/users"), as: asAdmin, body: map[string]any{"name": "x", "email": "not-an-email", "password": "long-enough-1", "role": "coordinator", "school_id": 1}, status: 422, field: "email"},
		{name: "coordinator without school", method: "POST", path: fixed("/api/v1/users"), as: asAdmin, body: map[string]any{"name": "x", "email": "x@example.cn", "password": "long-enough-1", "role": "coordinator"}, status: 422, field: "school_id"},
		{name: "duplicate email", method: "POST", path: fixed("/api/v1/users"), as: asAdmin, body: func(p *programme) any {
			return map[string]any{"name": "x", "email": "COORD@WHLZ.example.cn", "password": "long-enough-1", "role": "coordinator", "school_id": p.supporting}
		}, status: 409, field: "email", code: "duplicate_email"},

		// conflicts: 409
		{name: "second active pair", method: "POST", path: fixed("/api/v1/pairs"), as: asAdmin, body: func(p *programme) any {
			return map[string]any{"supporting_school_id": p.supporting, "supported_school_id": p.supported, "starts_on": "2027-09-01", "round": "第二轮"}
		}, status: 409, field: "supported_school_id", code: "duplicate_pair"},
		{name: "overlapping term", method: "POST", path: fixed("/api/v1/terms"), as: asAdmin, body: map[string]any{"school_year": "2027-2028", "season": "autumn", "starts_on": "2027-08-15", "ends_on": "2028-01-31"}, status: 409, field: "starts_on", code: "overlapping_term"},
		{name: "term inside a term", method: "POST", path: fixed("/api/v1/terms"), as: asAdmin, body: map[string]any{"school_year": "2027-2028", "season": "autumn", "starts_on": "2026-10-01", "ends_on": "2026-10-31"}, status: 409, field: "starts_on", code: "overlapping_term"},
		{name: "duplicate term", method: "POST", path: fixed("/api/v1/terms"), as: asAdmin, body: map[string]any{"school_year": "2026-2027", "season": "autumn", "starts_on": "2030-09-01", "ends_on": "2031-01-31"}, status: 409, field: "season", code: "duplicate_term"},
		{name: "overlapping agreement", method: "POST", path: agreements, as: asAdmin, body: with(goodAgreement, "effective_from", "2027-08-31"), status: 409, field: "effective_from", code: "overlapping_agreement"},
		{name: "duplicate school code", method: "POST", path: fixed("/api/v1/schools"), as: asAdmin, body: func(p *programme) any {
			return map[string]any{"name": "x", "region_id": p.macheng, "stage": "senior", "code": "1142010001"}
		}, status: 409, field: "code"},

		// query parameters
		{name: "limit not a number", method: "GET", path: fixed("/api/v1/pairs?limit=ten"), as: asAdmin, status: 422, field: "limit"},
		{name: "negative limit", method: "GET", path: fixed("/api/v1/schools?limit=-1"), as: asAdmin, status: 422, field: "limit"},
		{name: "limit over 500", method: "GET", path: fixed("/api/v1/activities?limit=501"), as: asAdmin, status: 422, field: "limit"},
		{name: "negative offset", method: "GET", path: fixed("/api/v1/users?offset=-5"), as: asAdmin, status: 422, field: "offset"},
		{name: "bad at", method: "GET", path: pairPath("/compliance?at=2026-02-30"), as: asAdmin, status: 422, field: "at"},
		{name: "bad from", method: "GET", path: fixed("/api/v1/activities?from=yesterday"), as: asAdmin, status: 422, field: "from"},
		{name: "bad to_confirm", method: "GET", path: fixed("/api/v1/activities?to_confirm=maybe"), as: asPrin, status: 422, field: "to_confirm"},
		{name: "bad activity status", method: "GET", path: fixed("/api/v1/activities?status=lost"), as: asAdmin, status: 422, field: "status"},
		{name: "bad compliance status", method: "GET", path: fixed("/api/v1/compliance?status=great"), as: asAdmin, status: 422, field: "status"},
		{name: "unknown term", method: "GET", path: fixed("/api/v1/compliance?term=2030-2031-autumn"), as: asAdmin, status: 422, field: "term"},
		{name: "unknown region", method: "GET", path: fixed("/api/v1/compliance?region_id=987654"), as: asAdmin, status: 422, field: "region_id"},
		{name: "bad pair id", method: "GET", path: fixed("/api/v1/pairs/abc"), as: asAdmin, status: 404, code: "not_found"},
		{name: "no such pair", method: "POST", path: fixed("/api/v1/pairs/987654/activities"), as: asCoord, body: goodActivity, status: 404, code: "not_found"},
	}
}

// TestBadInput: every refused request says which field is wrong (or, when
// none is to blame, what kind of error it is), with the right status.
func TestBadInput(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		for _, c := range badCases() {
			t.Run(c.name, func(t *testing.T) {
				body := c.body
				if f, ok := body.(func(*programme) any); ok {
					body = f(p)
				}
				path := c.path(p)
				before := p.count("audit_log")
				r := p.api.Do(c.method, path, c.as(p), body, c.headers...)
				expectError(t, c.name, r, c.status, c.field, c.code)
				if after := p.count("audit_log"); after != before {
					t.Errorf("a refused request wrote %d audit entries", after-before)
				}
			})
		}
	})
}

// TestBodyLimits: JSON bodies over 1 MiB and uploads over 10 MiB are 413,
// whether the client announces the length or streams the body.
func TestBodyLimits(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		act := pairPath("/activities")(p)
		big := `{"category":"visit","title":"t","occurred_on":"2026-10-15","description":"` + strings.Repeat("x", 1<<20) + `"}`
		expectError(t, "JSON over 1 MiB", api.Do("POST", act, p.supportingCoord.Token, big), 413, "", "too_large")
		expectError(t, "JSON over 1 MiB, streamed", raw(api, "POST", act, p.supportingCoord.Token, "application/json", onlyReader{strings.NewReader(big)}), 413, "", "too_large")
		expectError(t, "login over 1 MiB", api.Do("POST", "/api/v1/auth/login", "", `{"email":"`+strings.Repeat("a", 1<<20)+`"}`), 413, "", "too_large")
		// just under the limit is read (and then refused for its content)
		fits := `{"category":"visit","title":"t","occurred_on":"2026-10-15","description":"` + strings.Repeat("x", 1<<20-100) + `"}`
		expectError(t, "JSON under 1 MiB", api.Do("POST", act, p.supportingCoord.Token, fits), 422, "description", "validation_failed")
		streamed := raw(api, "POST", act, p.supportingCoord.Token, "application/json",
			onlyReader{strings.NewReader(`{"category":"visit","title":"streamed","occurred_on":"2026-10-15"}`)})
		if streamed.Status != 201 {
			t.Errorf("a small streamed body: %d %s", streamed.Status, streamed.Body)
		}

		id := p.mustLog(p.supportingCoord, "visit", "带证据", "2026-10-15")
		ev := p.path("/api/v1/activities/%d/evidence", id)
		expectError(t, "evidence of 10 MiB + 1", api.Upload(ev, p.supportingCoord.Token, "file", "big.png", bigPNG(t, 10<<20+1)), 413, "file", "too_large")
		expectError(t, "evidence of 11 MiB", api.Upload(ev, p.supportingCoord.Token, "file", "big.png", bigPNG(t, 11<<20)), 413, "", "too_large")
		// streamed multipart over the limit
		body, ctype := multipartBody(t, "file", "big.png", bigPNG(t, 11<<20))
		expectError(t, "evidence of 11 MiB, streamed", raw(api, "POST", ev, p.supportingCoord.Token, ctype, onlyReader{bytes.NewReader(body)}), 413, "", "too_large")
		if n := p.count("evidence"); n != 0 {
			t.Errorf("%d evidence rows after refused uploads", n)
		}
		// exactly 10 MiB is accepted
		r := api.Must(201, api.Upload(ev, p.supportingCoord.Token, "file", "exact.png", bigPNG(t, 10<<20)))
		var e evidenceJSON
		mustDecode(t, r, &e)
		if e.Size != 10<<20 || e.ContentType != "image/png" {
			t.Errorf("10 MiB evidence: %+v", e)
		}
	})
}

// TestAuthentication: no token, a bad one, an expired one, a wrong password.
func TestAuthentication(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		for name, h := range map[string][]string{
			"missing token":   nil,
			"empty bearer":    {"Authorization", "Bearer "},
			"basic auth":      {"Authorization", "Basic YWRtaW46cGFzc3dvcmQ="},
			"garbage token":   {"Authorization", "Bearer not.a.token"},
			"tampered token":  {"Authorization", "Bearer " + p.admin[:len(p.admin)-2] + "xx"},
			"token of nobody": {"Authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"},
		} {
			r := raw(api, "GET", "/api/v1/me", "", "", nil, h...)
			expectError(t, name, r, 401, "", "unauthorized")
			r = raw(api, "POST", pairPath("/activities")(p), "", "application/json", strings.NewReader(`{"category":"visit","title":"t","occurred_on":"2026-10-15"}`), h...)
			expectError(t, name+" on a write", r, 401, "", "unauthorized")
		}
		// well signed, for a user that does not exist
		tokens := auth.NewTokens([]byte(p.api.A.Config.SecretKey), time.Hour)
		ghost, _, err := tokens.Issue(987654, "no-such-session", p.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		// well signed for a real user, but no session was ever issued: a
		// signature alone is not a session
		real, _, _ := tokens.Issue(p.supportingCoord.ID, "no-such-session", p.clock.Now())
		expectError(t, "token without a session", api.Do("GET", "/api/v1/me", real, nil), 401, "", "unauthorized")
		expectError(t, "token of a missing user", api.Do("GET", "/api/v1/me", ghost, nil), 401, "", "unauthorized")
		if r := api.Do("GET", "/api/v1/me", "", nil); r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
		expectError(t, "wrong password", api.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": p.supportingCoord.Email, "password": "wrong-password"}), 401, "", "unauthorized")
		expectError(t, "unknown email", api.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "nobody@example.cn", "password": "wrong-password"}), 401, "", "unauthorized")
		expectError(t, "login without password", api.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": p.supportingCoord.Email}), 422, "password", "validation_failed")
		expectError(t, "login with a long password", api.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": p.supportingCoord.Email, "password": strings.Repeat("密", 60)}), 401, "", "unauthorized")
		// logins are case-insensitive on the email
		api.Login(strings.ToUpper(p.supportingCoord.Email), p.defaultPassword)
		if n := p.count("activities"); n != 0 {
			t.Errorf("%d activities logged without a valid token", n)
		}

		// a token expires (12 h by default)
		api.Must(200, api.Do("GET", "/api/v1/me", p.supportingCoord.Token, nil))
		p.clock.Set(testutil.At(today).Add(13 * time.Hour))
		expectError(t, "expired token", api.Do("GET", "/api/v1/me", p.supportingCoord.Token, nil), 401, "", "unauthorized")
	})
}
