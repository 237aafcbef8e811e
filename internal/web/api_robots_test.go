package web_test

import (
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// Robots of a region: the region's bureau (or one above) and admins manage
// them; the webhook is checked (no SSRF); credentials are never echoed.
func TestRobotsAPI(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		hook := "https://oapi.dingtalk.com/robot/send?access_token=abcdef123456"
		path := p.path("/api/v1/regions/%d/robots", p.macheng)
		r := api.Must(201, api.Do("POST", path, p.bureauMacheng.Token, map[string]any{"kind": "dingtalk", "webhook": hook, "secret": "SECxyz"}))
		id := r.ID()
		if strings.Contains(string(r.Body), "abcdef123456") || strings.Contains(string(r.Body), "SECxyz") || r.JSON()["has_secret"] != true {
			t.Fatalf("credentials echoed: %s", r.Body)
		}
		expectError(t, "internal address", api.Do("POST", path, p.admin, map[string]any{"kind": "wecom",
			"webhook": "https://169.254.169.254/cgi-bin/webhook/send?key=x"}), 422, "webhook", "validation_failed")
		expectError(t, "plain http", api.Do("POST", path, p.admin, map[string]any{"kind": "dingtalk",
			"webhook": "http://oapi.dingtalk.com/robot/send?access_token=x"}), 422, "webhook", "validation_failed")
		expectError(t, "kind", api.Do("POST", path, p.admin, map[string]any{"kind": "slack", "webhook": hook}), 422, "kind", "validation_failed")
		expectError(t, "unknown field", api.Do("POST", path, p.admin, map[string]any{"kind": "dingtalk", "webhook": hook, "token": "x"}), 400, "", "")
		api.Must(404, api.Do("POST", path, p.bureauHongan.Token, map[string]any{"kind": "dingtalk", "webhook": hook}))
		api.Must(403, api.Do("POST", path, p.supportedCoord.Token, map[string]any{"kind": "dingtalk", "webhook": hook}))
		api.Must(404, api.Do("GET", "/api/v1/regions/99999/robots", p.admin, nil))
		l := api.Must(200, api.Do("GET", path, p.admin, nil)).JSON()
		if items, _ := l["items"].([]any); len(items) != 1 {
			t.Fatalf("list: %v", l)
		}
		api.Must(404, api.Do("DELETE", p.path("/api/v1/robots/%d", id), p.bureauHongan.Token, nil))
		api.Must(204, api.Do("DELETE", p.path("/api/v1/robots/%d", id), p.bureauMacheng.Token, nil))
		api.Must(404, api.Do("DELETE", p.path("/api/v1/robots/%d", id), p.admin, nil))
	})
}
