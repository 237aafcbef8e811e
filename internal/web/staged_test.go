package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

type stagedJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
}

// stage uploads content as u and requires 201.
func (p *programme) stage(u user, name string, content []byte) stagedJSON {
	p.t.Helper()
	var s stagedJSON
	mustDecode(p.t, p.api.Must(201, p.api.Upload("/api/v1/uploads", u.Token, "file", name, content)), &s)
	return s
}

// stagedFile is where an upload's file lies (from its row).
func (p *programme) stagedFile(token string) string {
	p.t.Helper()
	var key string
	if err := p.db.Gorm().Table("staged_uploads").Where("token = ?", token).Pluck("storage_key", &key).Error; err != nil || key == "" {
		p.t.Fatalf("no staged row %s: %v", token, err)
	}
	return filepath.Join(p.api.A.Config.DataDir, "evidence", key)
}

// TestStagedUploads (issue 10): a file is staged by its owner (same checks
// as evidence), seen and removed only by them, and claimed into evidence
// by the activity's own transaction: a token that is missing, someone
// else's or already used refuses the whole write (422 naming upload_ids).
func TestStagedUploads(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		coord := p.supportingCoord
		img := pngBytes(t)

		s := p.stage(coord, "课堂照片.png", img)
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(s.ID) || s.Name != "课堂照片.png" || s.Size != int64(len(img)) || s.ContentType != "image/png" {
			t.Errorf("staged %+v", s)
		}
		var got stagedJSON
		mustDecode(t, api.Must(200, api.Do("GET", "/api/v1/uploads/"+s.ID, coord.Token, nil)), &got)
		if got != s {
			t.Errorf("GET %+v, want %+v", got, s)
		}
		for who, tok := range map[string]string{"another coordinator": p.supportedCoord.Token, "admin": p.admin} {
			expectError(t, who+" reads it", api.Do("GET", "/api/v1/uploads/"+s.ID, tok, nil), 404, "", "not_found")
			expectError(t, who+" deletes it", api.Do("DELETE", "/api/v1/uploads/"+s.ID, tok, nil), 404, "", "not_found")
		}
		expectError(t, "a principal stages", api.Upload("/api/v1/uploads", p.supportedPrin.Token, "file", "a.png", img), 403, "", "forbidden")
		expectError(t, "a text file", api.Upload("/api/v1/uploads", coord.Token, "file", "notes.txt", []byte("听课笔记\n")), 422, "file", "validation_failed")
		expectError(t, "no file", api.Upload("/api/v1/uploads", coord.Token, "photo", "a.png", img), 422, "file", "validation_failed")

		// logged with the file: it is evidence now, no longer staged
		doc := p.stage(coord, "签到表.pdf", pdfBytes())
		r := api.Must(201, p.logActivity(coord, map[string]any{"category": "visit", "title": "带照片的实地指导", "occurred_on": "2026-10-20",
			"upload_ids": []string{s.ID, doc.ID}}))
		var act activityJSON
		mustDecode(t, r, &act)
		if len(act.Evidence) != 2 || act.Evidence[0].FileName != "课堂照片.png" || act.Evidence[1].FileName != "签到表.pdf" || act.Evidence[1].ContentType != "application/pdf" {
			t.Errorf("evidence of the logged activity: %+v", act.Evidence)
		}
		dl := api.Must(200, api.Do("GET", p.path("/api/v1/evidence/%d", act.Evidence[0].ID), p.supportedPrin.Token, nil))
		if string(dl.Body) != string(img) {
			t.Error("the claimed file does not download as uploaded")
		}
		expectError(t, "a claimed upload", api.Do("GET", "/api/v1/uploads/"+s.ID, coord.Token, nil), 404, "", "not_found")
		expectError(t, "deleting a claimed upload", api.Do("DELETE", "/api/v1/uploads/"+s.ID, coord.Token, nil), 404, "", "not_found")
		var hist struct {
			History []struct {
				Action string `json:"action"`
			} `json:"history"`
		}
		mustDecode(t, api.Must(200, api.Do("GET", p.path("/api/v1/activities/%d", act.ID), coord.Token, nil)), &hist)
		added := 0
		for _, h := range hist.History {
			if h.Action == "evidence_added" {
				added++
			}
		}
		if added != 2 {
			t.Errorf("history has %d evidence_added events, want 2: %+v", added, hist.History)
		}

		// used again, someone else's, unknown: nothing is logged
		before := p.count("activities")
		mine := p.stage(coord, "另一张.png", img)
		theirs := p.stage(p.supportedCoord, "他校.png", img)
		for label, ids := range map[string][]string{
			"already claimed": {mine.ID, s.ID},
			"someone else's":  {mine.ID, theirs.ID},
			"unknown":         {mine.ID, strings.Repeat("ab", 16)},
		} {
			expectError(t, label, p.logActivity(coord, map[string]any{"category": "visit", "title": "重复", "occurred_on": "2026-10-21", "upload_ids": ids}),
				422, "upload_ids", "validation_failed")
		}
		if n := p.count("activities"); n != before {
			t.Errorf("refused claims logged %d activities", n-before)
		}
		api.Must(200, api.Do("GET", "/api/v1/uploads/"+mine.ID, coord.Token, nil)) // still waiting after the refusals

		// a retried request (same Idempotency-Key) answers as the first
		// did, though its files are claimed now: an offline queue may send twice
		retry := p.stage(coord, "重试.png", img)
		body := map[string]any{"category": "visit", "title": "离线补发", "occurred_on": "2026-10-23", "upload_ids": []string{retry.ID}}
		first := api.Must(201, p.logActivity(coord, body, "Idempotency-Key", "offline-queue-1"))
		again := api.Must(201, p.logActivity(coord, body, "Idempotency-Key", "offline-queue-1"))
		if first.ID() != again.ID() || again.Header.Get("Idempotent-Replayed") != "true" || p.count("evidence", "activity_id = ?", first.ID()) != 1 {
			t.Errorf("retry: %s / %s", first.Body, again.Body)
		}

		// two forms racing for one file: one claims it, the other is refused
		race := p.stage(coord, "争用.png", img)
		results := make(chan int, 2)
		for i := range 2 {
			go func() {
				results <- p.logActivity(coord, map[string]any{"category": "visit", "title": fmt.Sprintf("争用 %d", i), "occurred_on": "2026-10-24",
					"upload_ids": []string{race.ID}}).Status
			}()
		}
		if a, b := <-results, <-results; a+b != 201+422 {
			t.Errorf("racing claims answered %d and %d, want one 201 and one 422", a, b)
		}
		if n := p.count("evidence", "file_name = ?", "争用.png"); n != 1 {
			t.Errorf("the raced file is evidence %d times", n)
		}

		// amend (merge patch) attaches more
		other := p.mustLog(coord, "lecture", "专题讲座", "2026-10-22")
		r = api.Must(200, api.Do("PATCH", p.path("/api/v1/activities/%d", other), coord.Token, map[string]any{"upload_ids": []string{mine.ID}}))
		mustDecode(t, r, &act)
		if len(act.Evidence) != 1 || act.Evidence[0].FileName != "另一张.png" || act.Title != "专题讲座" {
			t.Errorf("after PATCH upload_ids: %+v", act)
		}

		// removing an upload removes its file
		gone := p.stage(coord, "删掉.png", img)
		file := p.stagedFile(gone.ID)
		if res := api.Do("DELETE", "/api/v1/uploads/"+gone.ID, coord.Token, nil); res.Status != 204 {
			t.Fatalf("DELETE: %d %s", res.Status, res.Body)
		}
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Errorf("the removed upload's file is still there (%v)", err)
		}
		expectError(t, "claiming a removed upload", p.logActivity(coord, map[string]any{"category": "visit", "title": "x", "occurred_on": "2026-10-21",
			"upload_ids": []string{gone.ID}}), 422, "upload_ids", "validation_failed")
	})
}

// TestStagedCleanup: the daily clean-up, at an explicit now, deletes the
// uploads no form claimed that are older than a day (rows, then files),
// and keeps younger ones and the files of claimed ones.
func TestStagedCleanup(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		coord := p.supportingCoord
		img := pngBytes(t)
		old := p.stage(coord, "旧.png", img)
		claimed := p.stage(coord, "已用.png", img)
		oldFile, claimedFile := p.stagedFile(old.ID), p.stagedFile(claimed.ID)
		p.api.Must(201, p.logActivity(coord, map[string]any{"category": "visit", "title": "用掉一个", "occurred_on": "2026-10-20",
			"upload_ids": []string{claimed.ID}}))
		young := p.stage(coord, "新.png", img)
		youngFile := p.stagedFile(young.ID)
		// the first two were staged 30 hours ago
		t0 := testutil.At(today)
		if err := db.Gorm().Exec("UPDATE staged_uploads SET created_at = ? WHERE token IN ?", t0.Add(-30*time.Hour).UTC(), []string{old.ID, claimed.ID}).Error; err != nil {
			t.Fatal(err)
		}

		now := t0.Add(2 * time.Hour)
		n, err := p.api.A.Activities.CleanStaged(context.Background(), now)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("removed %d files, want 1", n)
		}
		if c := p.count("staged_uploads", "token = ?", old.ID); c != 0 {
			t.Error("the old unclaimed row is still there")
		}
		if _, err := os.Stat(oldFile); !os.IsNotExist(err) {
			t.Errorf("the old unclaimed file is still there (%v)", err)
		}
		for label, f := range map[string]string{"claimed": claimedFile, "young": youngFile} {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("the %s upload's file is gone: %v", label, err)
			}
		}
		if c := p.count("staged_uploads", "token = ?", young.ID); c != 1 {
			t.Error("the young upload's row is gone")
		}
		p.api.Must(200, p.api.Do("GET", "/api/v1/uploads/"+young.ID, coord.Token, nil))
		// a day after the claim, its row goes (its file is evidence and
		// stays); the young upload, a day old now, goes with its file
		if n, err := p.api.A.Activities.CleanStaged(context.Background(), now.Add(24*time.Hour)); err != nil || n != 1 {
			t.Fatalf("second clean-up: %d files, %v", n, err)
		}
		if _, err := os.Stat(youngFile); !os.IsNotExist(err) {
			t.Errorf("the young upload's file outlived the day (%v)", err)
		}
		if c := p.count("staged_uploads", "token = ?", claimed.ID); c != 0 {
			t.Error("the old claimed row is still there")
		}
		if _, err := os.Stat(claimedFile); err != nil {
			t.Errorf("the claimed file (evidence) is gone: %v", err)
		}
		if c := p.count("evidence", "file_name = ?", "已用.png"); c != 1 {
			t.Errorf("%d evidence rows for the claimed file", c)
		}

		// the scheduled job: it claims its firing in job_runs and cleans
		// as of the now it is given
		late := p.stage(coord, "晚.png", img)
		lateFile := p.stagedFile(late.ID)
		if err := db.Gorm().Exec("UPDATE staged_uploads SET created_at = ? WHERE token = ?", t0.Add(-30*time.Hour).UTC(), late.ID).Error; err != nil {
			t.Fatal(err)
		}
		sched, err := p.api.A.Scheduler()
		if err != nil {
			t.Fatal(err)
		}
		sched.CatchUp(context.Background(), now) // the 03:30 firing of that day, missed
		if c := p.count("job_runs", "job = ? AND status = ?", "uploads", "done"); c != 1 {
			t.Errorf("%d done runs of the uploads job, want 1", c)
		}
		if _, err := os.Stat(lateFile); !os.IsNotExist(err) || p.count("staged_uploads", "token = ?", late.ID) != 0 {
			t.Errorf("the job left the old upload (%v)", err)
		}
	})
}

// TestStagedUploadPage: the upload widget's page twins (session cookie and
// CSRF token) answer the API's JSON, errors included.
func TestStagedUploadPage(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		w := d.as("wh6.coord@demo.local", demoSchoolPW)
		w.must(200, w.get("/activities/new"))
		r := w.upload("/uploads", nil, "file", "现场.png", pngImage(t, 40, 30))
		var s stagedJSON
		if r.Status != 201 || json.Unmarshal(r.raw, &s) != nil || s.Name != "现场.png" || s.ContentType != "image/png" || len(s.ID) != 32 {
			t.Fatalf("page upload: %d %s", r.Status, r.Body)
		}
		r = w.upload("/uploads", nil, "file", "notes.txt", []byte("听课笔记\n"))
		if r.Status != 422 || !strings.Contains(r.Body, `"file"`) || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("a text file on the page route: %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		if r := w.postRaw("/uploads/"+s.ID+"/delete", nil); r.Status != 403 {
			t.Errorf("delete without the CSRF token: %d", r.Status)
		}
		if r := w.post("/uploads/"+s.ID+"/delete", nil); r.Status != 204 {
			t.Errorf("delete: %d %s", r.Status, r.Body)
		}
		if n := countRows(t, db, "staged_uploads", "token = ?", s.ID); n != 0 {
			t.Error("the deleted upload's row is still there")
		}
	})
}
