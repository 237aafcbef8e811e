package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestUploadIdleDeadline: over a real TCP connection, with a 300 ms
// request timeout and a 400 ms idle limit, an evidence upload that trickles
// in over ~1.5 s (gaps of 100 ms) is recorded, while one that stops sending
// for longer than the idle limit is answered 408 upload_stalled; an
// ordinary request is still bounded by the request timeout's context.
func TestUploadIdleDeadline(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		clock := testutil.NewClock(testutil.At(today))
		cfg := testutil.Config(t)
		cfg.RequestTimeout.Duration = 300 * time.Millisecond
		cfg.HTTP.UploadIdle.Duration = 400 * time.Millisecond
		a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)),
			app.Options{Now: clock.Now, BcryptCost: bcrypt.MinCost, Argon2: &auth.CheapArgon2, DB: db})
		if err != nil {
			t.Fatal(err)
		}
		p := newProgrammeOn(t, db, clock, a)
		id := p.mustLog(p.supportingCoord, "visit", "十月实地指导", "2026-10-15")
		srv := httptest.NewServer(a.HTTP.Handler())
		defer srv.Close()

		body, ctype := multipartBody(t, "file", "site.png", bigPNG(t, 60<<10))
		// send writes the request head, then the body in chunks with gap
		// between them (stallAfter chunks, then a pause of stall), and
		// returns the status line and body of the answer.
		send := func(chunks int, gap time.Duration, stallAfter int, stall time.Duration) (string, string) {
			t.Helper()
			conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST /api/v1/activities/%d/evidence HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
				id, p.supportingCoord.Token, ctype, len(body))
			size := (len(body) + chunks - 1) / chunks
			for i := 0; i < chunks; i++ {
				if i == stallAfter {
					time.Sleep(stall)
				}
				end := min((i+1)*size, len(body))
				if _, err := conn.Write(body[i*size : end]); err != nil {
					break // the server gave up: read its answer
				}
				time.Sleep(gap)
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.Status, string(b)
		}

		start := time.Now()
		status, answer := send(15, 100*time.Millisecond, -1, 0)
		if took := time.Since(start); !strings.HasPrefix(status, "201") || took < cfg.RequestTimeout.Duration*3 {
			t.Errorf("slow upload over %v: %s %s", took, status, answer)
		}
		if n := p.count("evidence", "activity_id = ?", id); n != 1 {
			t.Errorf("%d evidence rows after the slow upload, want 1", n)
		}

		status, answer = send(10, 20*time.Millisecond, 3, time.Second)
		if !strings.HasPrefix(status, "408") || !strings.Contains(answer, `"upload_stalled"`) {
			t.Errorf("stalled upload: %s %s", status, answer)
		}
		if n := p.count("evidence", "activity_id = ?", id); n != 1 {
			t.Errorf("%d evidence rows after the stalled upload, want 1", n)
		}
	})
}
