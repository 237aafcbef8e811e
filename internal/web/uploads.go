package web

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// requestDeadline bounds reading and writing an ordinary request on its
// connection (what the server's ReadTimeout/WriteTimeout used to do).
const requestDeadline = 2 * time.Minute

// uploadRoute marks r as an upload: bounded by UploadIdle, not by
// RequestTimeout (a 3 MB photo on a 0.5 Mbit/s uplink takes a minute).
func (s *Server) uploadRoute(r *echo.Route) {
	s.uploads[r.Method+" "+r.Path] = true
}

// isUpload is the request timeout's skipper: Use middleware runs after
// routing, so c.Path() is the route's pattern.
func (s *Server) isUpload(c echo.Context) bool {
	return s.uploads[c.Request().Method+" "+c.Path()]
}

// connDeadlines sets the connection's deadlines per request: an ordinary
// request gets requestDeadline to be read and answered; an upload's read
// deadline moves UploadIdle ahead with every read, so it fails only when
// the client stops sending. A stalled upload is answered 408 with a clear
// message (if the client still listens). Deadlines are not supported by
// every writer (tests' recorders): then nothing is bounded here.
func (s *Server) connDeadlines(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		rc := http.NewResponseController(c.Response().Writer)
		if !s.isUpload(c) || s.UploadIdle <= 0 {
			at := time.Now().Add(requestDeadline)
			_ = rc.SetReadDeadline(at)
			_ = rc.SetWriteDeadline(at)
			return next(c)
		}
		req := c.Request()
		body := &idleReader{r: req.Body, rc: rc, idle: s.UploadIdle}
		body.extend()
		req.Body = body
		err := next(c)
		if body.stalled.Load() && !c.Response().Committed {
			return echo.NewHTTPError(http.StatusRequestTimeout).SetInternal(errUploadStalled)
		}
		return err
	}
}

// errUploadStalled is the 408's cause (errors.go names it upload_stalled).
var errUploadStalled = errors.New("upload stalled: the client sent nothing for too long")

// idleReader is a request body whose connection read deadline is pushed
// idle ahead on every read (and the write deadline with it, so the answer
// can still be written after a long upload).
type idleReader struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	idle    time.Duration
	stalled atomic.Bool
}

func (b *idleReader) extend() {
	now := time.Now()
	_ = b.rc.SetReadDeadline(now.Add(b.idle))
	_ = b.rc.SetWriteDeadline(now.Add(b.idle + requestDeadline))
}

func (b *idleReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.extend()
	}
	var ne net.Error
	if err != nil && (errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())) {
		b.stalled.Store(true)
	}
	return n, err
}

func (b *idleReader) Close() error { return b.r.Close() }
