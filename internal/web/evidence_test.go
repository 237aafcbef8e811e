package web_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestEvidence: upload, list and download evidence files; names survive;
// only images and PDFs; nothing after confirmation.
func TestEvidence(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		id := p.mustLog(p.supportingCoord, "demonstration_lesson", "示范课：函数的单调性", "2026-10-22")
		upload := p.path("/api/v1/activities/%d/evidence", id)
		tok := p.supportingCoord.Token

		img, doc := pngBytes(t), pdfBytes()
		longName := strings.Repeat("结对帮扶活动现场照片", 10) + ".png" // 100 characters, 304 bytes
		files := []struct {
			name, ctype string
			content     []byte
		}{
			{"课堂照片.png", "image/png", img},
			{"听课记录 (第1页).pdf", "application/pdf", doc},
			{longName, "image/png", img},
			{"photo.PNG", "image/png", img},
		}
		var ids []int64
		for _, f := range files {
			r := api.Must(201, api.Upload(upload, tok, "file", f.name, f.content))
			var e evidenceJSON
			mustDecode(t, r, &e)
			sum := sha256.Sum256(f.content)
			if e.ContentType != f.ctype || e.Size != int64(len(f.content)) || e.ActivityID != id || e.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: %+v", f.name, e)
			}
			if f.name == longName {
				if !utf8.ValidString(e.FileName) || strings.ContainsRune(e.FileName, utf8.RuneError) || !strings.HasSuffix(e.FileName, ".png") ||
					!strings.HasSuffix(longName, e.FileName) || len(e.FileName) > 255 || e.FileName == "" {
					t.Errorf("long name kept as %q (%d bytes, valid UTF-8: %v)", e.FileName, len(e.FileName), utf8.ValidString(e.FileName))
				}
			} else if e.FileName != f.name {
				t.Errorf("name %q kept as %q", f.name, e.FileName)
			}
			ids = append(ids, e.ID)
		}

		// the activity and the pair's list show them, in upload order
		for name, got := range map[string]activityJSON{
			"activity":      p.activity(p.supportedPrin, id),
			"pair list":     pairActivities(t, p, p.supportedPrin.Token)[0],
			"activity list": allActivities(t, p, p.bureauMacheng.Token)[0],
		} {
			if len(got.Evidence) != len(files) {
				t.Errorf("%s shows %d files, want %d", name, len(got.Evidence), len(files))
				continue
			}
			for i, e := range got.Evidence {
				if e.ID != ids[i] || (files[i].name != longName && e.FileName != files[i].name) || e.ContentType != files[i].ctype {
					t.Errorf("%s: file %d is %+v, want %s", name, i, e, files[i].name)
				}
			}
		}

		// downloads: the bytes, the type, the name (RFC 5987), for everyone who sees the pair
		for i, f := range files[:2] {
			for who, reader := range map[string]string{"logger": tok, "counterpart principal": p.supportedPrin.Token, "bureau": p.bureauMacheng.Token, "admin": p.admin} {
				r := api.Do("GET", p.path("/api/v1/evidence/%d", ids[i]), reader, nil)
				if r.Status != 200 {
					t.Errorf("%s downloads %s: %d %s", who, f.name, r.Status, r.Body)
					continue
				}
				if !bytes.Equal(r.Body, f.content) {
					t.Errorf("%s downloads %s: %d bytes differ from the %d uploaded", who, f.name, len(r.Body), len(f.content))
				}
				if ct := r.Header.Get("Content-Type"); ct != f.ctype {
					t.Errorf("%s: Content-Type %q, want %q", f.name, ct, f.ctype)
				}
				if cd := r.Header.Get("Content-Disposition"); !strings.Contains(cd, "filename*=UTF-8''"+url.PathEscape(f.name)) {
					t.Errorf("%s: Content-Disposition %q", f.name, cd)
				}
				if r.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("%s: no nosniff", f.name)
				}
			}
		}
		expectError(t, "no such evidence", api.Do("GET", "/api/v1/evidence/987654", p.admin, nil), 404, "", "not_found")

		// only images and PDFs, recognised by content, not by name
		for name, content := range map[string][]byte{
			"notes.txt":   []byte("听课笔记：第一节\n"),
			"fake.png":    []byte("this is not a PNG at all"),
			"page.html":   []byte("<html><script>alert(1)</script></html>"),
			"archive.zip": append([]byte("PK\x03\x04"), make([]byte, 100)...),
			"empty.png":   {},
		} {
			expectError(t, "upload "+name, api.Upload(upload, tok, "file", name, content), 422, "file", "validation_failed")
		}
		expectError(t, "upload in another field", api.Upload(upload, tok, "photo", "a.png", img), 422, "file", "validation_failed")
		expectError(t, "upload as JSON", api.Do("POST", upload, tok, map[string]any{"file": "aGVsbG8="}), 422, "file", "validation_failed")
		if n := p.count("evidence"); n != int64(len(files)) {
			t.Errorf("%d evidence rows, want %d", n, len(files))
		}

		// decided activities take no more files; disputed ones do
		api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/confirm", id), p.supportedPrin.Token, nil))
		expectError(t, "upload after confirmation", api.Upload(upload, tok, "file", "late.png", img), 409, "status", "wrong_status")
		other := p.mustLog(p.supportingCoord, "lecture", "专题讲座", "2026-10-23")
		api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/dispute", other), p.supportedPrin.Token, map[string]any{"reason": "请补充照片"}))
		api.Must(201, api.Upload(p.path("/api/v1/activities/%d/evidence", other), tok, "file", "补充照片.png", img))
		api.Must(200, api.Do("POST", p.path("/api/v1/activities/%d/withdraw", other), tok, nil))
		expectError(t, "upload after withdrawal", api.Upload(p.path("/api/v1/activities/%d/evidence", other), tok, "file", "x.png", img), 409, "status", "wrong_status")
		if n := p.count("evidence"); n != int64(len(files))+1 {
			t.Errorf("%d evidence rows, want %d", n, len(files)+1)
		}
	})
}

// TestEvidenceLimitPerActivity: at most 20 files on one activity.
func TestEvidenceLimitPerActivity(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		id := p.mustLog(p.supportingCoord, "visit", "实地指导", "2026-10-15")
		upload := p.path("/api/v1/activities/%d/evidence", id)
		img := pngBytes(t)
		for i := 0; i < 20; i++ {
			p.api.Must(201, p.api.Upload(upload, p.supportingCoord.Token, "file", "p.png", img))
		}
		expectError(t, "21st file", p.api.Upload(upload, p.supportingCoord.Token, "file", "p.png", img), 409, "file", "too_many_files")
		if n := p.count("evidence"); n != 20 {
			t.Errorf("%d files, want 20", n)
		}
	})
}

func pairActivities(t *testing.T, p *programme, tok string) []activityJSON {
	t.Helper()
	var l listJSON[activityJSON]
	mustDecode(t, p.api.Must(200, p.api.Do("GET", p.path("/api/v1/pairs/%d/activities", p.pair), tok, nil)), &l)
	if len(l.Items) == 0 {
		t.Fatalf("no activities listed")
	}
	return l.Items
}

func allActivities(t *testing.T, p *programme, tok string) []activityJSON {
	t.Helper()
	var l listJSON[activityJSON]
	mustDecode(t, p.api.Must(200, p.api.Do("GET", "/api/v1/activities", tok, nil)), &l)
	if len(l.Items) == 0 {
		t.Fatalf("no activities listed")
	}
	return l.Items
}
