package web_test

import (
	"archive/zip"
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// The circular and rectification API over HTTP: shapes, status codes and
// the walk draft → publish → acknowledge → report → return → accept.
func TestCircularsAPI(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		// September's monthly visit is breached as of today (2026-11-02)
		if _, err := api.A.Check(context.Background(), date.MustParse(today), p.clock.Now(), false); err != nil {
			t.Fatal(err)
		}
		bureau := p.bureauMacheng.Token
		r := api.Must(201, api.Do("POST", "/api/v1/circulars", bureau, map[string]any{"period_key": "2026-2027-autumn",
			"title": "关于2026年9月结对帮扶工作的通报", "number": "麻教通〔2026〕3号", "preamble": "各学校：", "requirements": "限期整改。", "rectify_by": "2026-11-20"}))
		var draft struct {
			ID      int64  `json:"id"`
			Status  string `json:"status"`
			Schools []struct {
				SchoolID int64  `json:"school_id"`
				Name     string `json:"name"`
				Lines    []struct {
					PairID     int64  `json:"pair_id"`
					Commitment string `json:"commitment"`
					PeriodKey  string `json:"period_key"`
					Period     string `json:"period"`
					Required   any    `json:"required"`
					Achieved   any    `json:"achieved"`
				} `json:"lines"`
			} `json:"schools"`
		}
		mustDecode(t, r, &draft)
		if draft.Status != "draft" || len(draft.Schools) != 1 || draft.Schools[0].SchoolID != p.supported || len(draft.Schools[0].Lines) != 1 {
			t.Fatalf("draft: %s", r.Body)
		}
		if l := draft.Schools[0].Lines[0]; l.PairID != p.pair || l.PeriodKey != "2026-09" || l.Period != "2026年9月" || l.Required != 1.0 || l.Achieved != 0.0 {
			t.Fatalf("line: %+v", l)
		}
		id := draft.ID
		expectError(t, "no breaches", api.Do("POST", "/api/v1/circulars", bureau, map[string]any{"period_key": "2026-2027-spring", "title": "x"}), 422, "period_key", "validation_failed")
		expectError(t, "bad date", api.Do("POST", "/api/v1/circulars", bureau, map[string]any{"period_key": "2026-2027", "title": "x", "rectify_by": "20-11"}), 400, "", "")
		expectError(t, "unknown field", api.Do("POST", "/api/v1/circulars", bureau, map[string]any{"period_key": "2026-2027", "title": "x", "x": 1}), 400, "", "")
		api.Must(403, api.Do("POST", "/api/v1/circulars", p.supportedPrin.Token, map[string]any{"period_key": "2026-2027", "title": "x"}))
		api.Must(404, api.Do("GET", p.path("/api/v1/circulars/%d", id), p.bureauHongan.Token, nil))
		api.Must(404, api.Do("GET", p.path("/api/v1/circulars/%d", id), p.supportedPrin.Token, nil)) // a draft

		r = api.Must(200, api.Do("PATCH", p.path("/api/v1/circulars/%d", id), bureau, map[string]any{"preamble": nil, "title": "新标题"}))
		if js := r.JSON(); js["title"] != "新标题" || js["preamble"] != "" || js["number"] != "麻教通〔2026〕3号" {
			t.Fatalf("patch: %s", r.Body)
		}
		expectError(t, "patch unknown", api.Do("PATCH", p.path("/api/v1/circulars/%d", id), bureau, map[string]any{"status": "published"}), 400, "", "")
		expectError(t, "patch title null", api.Do("PATCH", p.path("/api/v1/circulars/%d", id), bureau, map[string]any{"title": nil}), 422, "title", "")
		api.Must(200, api.Do("POST", p.path("/api/v1/circulars/%d/publish", id), bureau, nil))
		api.Must(409, api.Do("POST", p.path("/api/v1/circulars/%d/publish", id), bureau, nil))
		api.Must(409, api.Do("PATCH", p.path("/api/v1/circulars/%d", id), bureau, map[string]any{"title": "y"}))

		doc := api.Must(200, api.Do("GET", p.path("/api/v1/circulars/%d/document.docx", id), p.supportedPrin.Token, nil))
		if ct := doc.Header.Get("Content-Type"); ct != "application/vnd.openxmlformats-officedocument.wordprocessingml.document" {
			t.Fatalf("docx content type %q", ct)
		}
		zr, err := zip.NewReader(bytes.NewReader(doc.Body), int64(len(doc.Body)))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range zr.File {
			if f.Name == "word/document.xml" {
				rc, _ := f.Open()
				var b bytes.Buffer
				_, _ = b.ReadFrom(rc)
				found = strings.Contains(b.String(), "新标题") && strings.Contains(b.String(), "麻城市第五中学")
			}
		}
		if !found {
			t.Fatalf("the docx lacks the title or the school")
		}

		l := api.Must(200, api.Do("GET", p.path("/api/v1/rectifications?circular_id=%d", id), p.supportedCoord.Token, nil)).JSON()
		items, _ := l["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("rectifications: %v", l)
		}
		rid := int64(items[0].(map[string]any)["id"].(float64))
		rp := func(action string) string { return p.path("/api/v1/rectifications/%d/%s", rid, action) }
		api.Must(403, api.Do("POST", rp("acknowledge"), bureau, nil))
		api.Must(404, api.Do("POST", rp("acknowledge"), p.supportingCoord.Token, nil))
		api.Must(200, api.Do("POST", rp("acknowledge"), p.supportedPrin.Token, nil))
		api.Must(409, api.Do("POST", rp("acknowledge"), p.supportedPrin.Token, nil))
		api.Must(201, api.Upload(rp("files"), p.supportedCoord.Token, "file", "照片.png", pngBytes(t)))
		expectError(t, "empty report", api.Do("POST", rp("submit"), p.supportedCoord.Token, map[string]any{"report": ""}), 422, "report", "")
		api.Must(200, api.Do("POST", rp("submit"), p.supportedCoord.Token, map[string]any{"report": "已补齐9月实地指导。"}))
		expectError(t, "return without reason", api.Do("POST", rp("return"), bureau, map[string]any{}), 422, "reason", "")
		api.Must(200, api.Do("POST", rp("return"), bureau, map[string]any{"reason": "请附照片"}))
		api.Must(200, api.Do("POST", rp("submit"), p.supportedCoord.Token, map[string]any{"report": "已附照片。"}))
		r = api.Must(200, api.Do("POST", rp("accept"), bureau, nil))
		if js := r.JSON(); js["status"] != "accepted" {
			t.Fatalf("accept: %s", r.Body)
		}
		files, _ := r.JSON()["files"].([]any)
		if len(files) != 1 {
			t.Fatalf("files: %s", r.Body)
		}
		fid := int64(files[0].(map[string]any)["id"].(float64))
		f := api.Must(200, api.Do("GET", p.path("/api/v1/rectification-files/%d", fid), bureau, nil))
		if f.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("file: %v", f.Header)
		}
		api.Must(404, api.Do("GET", p.path("/api/v1/rectification-files/%d", fid), p.farCoord.Token, nil))
		expectError(t, "status filter", api.Do("GET", "/api/v1/rectifications?status=nope", bureau, nil), 422, "status", "")
	})
}
