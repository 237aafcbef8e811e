package web_test

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/config"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// The regression tests of the security review of issue 8 (items 1, 3, 4,
// 5, 6; 2 and 7 are in TestPageAccounts, 8 in TestUserEdit).

// repoRoot is the repository's root directory, from this file's place.
func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Item 1: no secret key ships with the repository.
func TestSecurityNoPublishedSecret(t *testing.T) {
	compose, err := os.ReadFile(filepath.Join(repoRoot(t), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`TWINNING_SECRET_KEY: "\$\{TWINNING_SECRET_KEY:\?`).Match(compose) {
		t.Errorf("docker-compose.yml does not require TWINNING_SECRET_KEY from the environment")
	}
	// every key printed in the repository's examples is refused at start-up
	example, err := os.ReadFile(filepath.Join(repoRoot(t), "config", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^secret_key:\s*"([^"]+)"`).FindSubmatch(example)
	if m == nil {
		t.Fatal("config/example.yaml has no secret_key line")
	}
	for _, key := range append([]string{string(m[1])}, config.PublicSecretKeys...) {
		_, err := config.Load("", []string{"TWINNING_DATA_DIR=" + t.TempDir(), "TWINNING_SECRET_KEY=" + key})
		if err == nil || !strings.Contains(err.Error(), "secret_key") {
			t.Errorf("key %q accepted: %v", key, err)
		}
	}
	if _, err := config.Load("", []string{"TWINNING_DATA_DIR=" + t.TempDir(), "TWINNING_SECRET_KEY=0123456789abcdef0123456789abcdef-mine"}); err != nil {
		t.Errorf("a key of one's own refused: %v", err)
	}
}

func TestSecurityReview(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api

		// item 5: a client's X-Request-ID is kept only when short and safe;
		// otherwise one is generated (a long one was a 500 on MySQL)
		for _, bad := range []string{strings.Repeat("a", 65), "id with spaces", "<script>", "x\u00e9"} {
			r := api.Do("PATCH", p.path("/api/v1/schools/%d", p.far), p.admin, map[string]any{"name": "红安县第一中学"}, "X-Request-ID", bad)
			api.Must(200, r)
			if got := r.Header.Get("X-Request-ID"); got == bad || got == "" || len(got) > 64 {
				t.Errorf("X-Request-ID %q answered %q", bad, got)
			}
		}
		r := api.Must(200, api.Do("PATCH", p.path("/api/v1/schools/%d", p.far), p.admin, map[string]any{"name": "红安一中"}, "X-Request-ID", "req-42.a_b:c"))
		if r.Header.Get("X-Request-ID") != "req-42.a_b:c" {
			t.Errorf("a safe request id was replaced: %q", r.Header.Get("X-Request-ID"))
		}
		if countRows(t, db, "audit_log", "request_id = ?", "req-42.a_b:c") != 1 {
			t.Errorf("the safe request id is not in the audit log")
		}

		// item 3: CSV cells that a spreadsheet would run are defused
		api.Must(200, api.Do("PATCH", p.path("/api/v1/pairs/%d", p.pair), p.admin, map[string]any{"round": "=HYPERLINK(\"http://evil.example\",\"x\")"}))
		csvBody := api.Must(200, api.Do("GET", "/api/v1/compliance/export.csv?at="+today, p.admin, nil)).Body
		rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(csvBody), "\uFEFF"))).ReadAll()
		if err != nil || len(rows) < 2 {
			t.Fatalf("csv: %v %d rows", err, len(rows))
		}
		found := false
		for _, row := range rows[1:] {
			for _, cell := range row {
				if strings.Contains(cell, "HYPERLINK") {
					found = true
					if !strings.HasPrefix(cell, "'=") {
						t.Errorf("formula cell written as %q", cell)
					}
				}
				if cell != "" && strings.ContainsRune("=+@\t\r", rune(cell[0])) {
					t.Errorf("a cell starts with %q: %q", cell[0], cell)
				}
			}
		}
		if !found {
			t.Errorf("the round is not in the export")
		}

		// item 4: a county bureau cannot import records into a pair whose
		// other school is outside its subtree
		imp := map[string]any{"category": "visit", "title": "历史记录", "occurred_on": "2026-09-10", "logged_by_school_id": p.supporting,
			"status": "confirmed", "logged_on": "2026-09-11"}
		expectError(t, "bureau imports into a pair across subtrees", api.Do("POST", p.path("/api/v1/pairs/%d/activities/import", p.pair), p.bureauMacheng.Token, imp), 403, "", "forbidden")
		api.Must(201, api.Do("POST", p.path("/api/v1/pairs/%d/activities/import", p.pair), p.admin, imp))

		// item 6: evidence is served sandboxed, PDFs as attachments, names
		// without control characters
		id := p.mustLog(p.supportingCoord, "demonstration_lesson", "示范课", "2026-10-22")
		upload := p.path("/api/v1/activities/%d/evidence", id)
		tok := p.supportingCoord.Token
		var pdf, png evidenceJSON
		mustDecode(t, api.Must(201, api.Upload(upload, tok, "file", "听课\u200b记录\u202egpj.pdf", pdfBytes())), &pdf)
		mustDecode(t, api.Must(201, api.Upload(upload, tok, "file", "照片\t1.png", pngBytes(t))), &png)
		if pdf.FileName != "听课记录gpj.pdf" || png.FileName != "照片1.png" {
			t.Errorf("names kept as %q, %q", pdf.FileName, png.FileName)
		}
		for _, e := range []evidenceJSON{pdf, png} {
			r := api.Must(200, api.Do("GET", p.path("/api/v1/evidence/%d", e.ID), tok, nil))
			h := r.Header
			if !strings.HasPrefix(h.Get("Content-Security-Policy"), "sandbox") || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("evidence %s served with CSP %q, nosniff %q", e.ContentType, h.Get("Content-Security-Policy"), h.Get("X-Content-Type-Options"))
			}
			want := "inline;"
			if e.ContentType == "application/pdf" {
				want = "attachment;"
			}
			if !strings.HasPrefix(h.Get("Content-Disposition"), want) {
				t.Errorf("%s served as %q", e.ContentType, h.Get("Content-Disposition"))
			}
		}
	})
}

// Item 6: a per-school evidence quota, with a clear 413.
func TestSecurityEvidenceQuota(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		p.api.A.Activities.WithSchoolQuota(int64(len(pngBytes(t))*2 + 10))
		id := p.mustLog(p.supportingCoord, "demonstration_lesson", "示范课", "2026-10-22")
		upload := p.path("/api/v1/activities/%d/evidence", id)
		for range 2 {
			p.api.Must(201, p.api.Upload(upload, p.supportingCoord.Token, "file", "a.png", pngBytes(t)))
		}
		r := p.api.Upload(upload, p.supportingCoord.Token, "file", "b.png", pngBytes(t))
		expectError(t, "over the school's quota", r, 413, "file", "too_large")
		if !strings.Contains(r.Field("file"), "storage is full") {
			t.Errorf("quota message: %q", r.Field("file"))
		}
		// another school has its own quota
		other := p.mustLog(p.supportedCoord, "visit", "回访", "2026-10-23")
		p.api.Must(201, p.api.Upload(p.path("/api/v1/activities/%d/evidence", other), p.supportedCoord.Token, "file", "c.png", pngBytes(t)))
		// staged uploads (issue 10) count too, waiting or claimed
		staged := p.stage(p.supportedCoord, "d.png", pngBytes(t))
		expectError(t, "staged over the quota", p.api.Upload("/api/v1/uploads", p.supportedCoord.Token, "file", "e.png", pngBytes(t)), 413, "file", "too_large")
		expectError(t, "evidence over the quota with a staged file waiting", p.api.Upload(p.path("/api/v1/activities/%d/evidence", other), p.supportedCoord.Token, "file", "f.png", pngBytes(t)), 413, "file", "too_large")
		p.api.Must(200, p.api.Do("PATCH", p.path("/api/v1/activities/%d", other), p.supportedCoord.Token, map[string]any{"upload_ids": []string{staged.ID}}))
		expectError(t, "staged over the quota after the claim", p.api.Upload("/api/v1/uploads", p.supportedCoord.Token, "file", "g.png", pngBytes(t)), 413, "file", "too_large")
	})
}
