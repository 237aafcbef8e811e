package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/config"
	"github.com/twinning-platform/twinning/internal/database"
)

// Clock is a settable clock for tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the current fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Shanghai is the default programme time zone.
func Shanghai() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}

// At is 10:00 on the given local date in Shanghai.
func At(day string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", day+" 10:00", Shanghai())
	if err != nil {
		panic(err)
	}
	return t
}

// Config is the default configuration with a temporary data directory.
func Config(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Load("", []string{"TWINNING_DATA_DIR=" + t.TempDir(), "TWINNING_SECRET_KEY=test-secret-key-of-at-least-32-characters",
		"TWINNING_CHANNELS_ALLOW_HOSTS=127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// NewApp wires an App over db with the clock.
func NewApp(t testing.TB, db *database.DB, clock *Clock) *app.App {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(context.Background(), Config(t), log, app.Options{Now: clock.Now, BcryptCost: bcrypt.MinCost, Argon2: &auth.CheapArgon2, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// API calls the HTTP handler in-process.
type API struct {
	t testing.TB
	h http.Handler
	A *app.App
}

// NewAPI wraps the app's handler.
func NewAPI(t testing.TB, a *app.App) *API { return &API{t: t, h: a.HTTP.Handler(), A: a} }

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as an object.
func (r Response) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// ID is the numeric "id" of the body.
func (r Response) ID() int64 {
	v, _ := r.JSON()["id"].(float64)
	return int64(v)
}

// Field returns error.fields[name], or "".
func (r Response) Field(name string) string {
	e, _ := r.JSON()["error"].(map[string]any)
	f, _ := e["fields"].(map[string]any)
	s, _ := f[name].(string)
	return s
}

// Code returns error.code, or "".
func (r Response) Code() string {
	e, _ := r.JSON()["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// Do sends a request; body may be nil, a []byte/string (sent raw) or a
// value encoded as JSON.
func (api *API) Do(method, path, token string, body any, headers ...string) Response {
	api.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			api.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	api.h.ServeHTTP(rec, req)
	return Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// Upload posts a multipart file.
func (api *API) Upload(path, token, field, name string, content []byte) Response {
	api.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, err := w.CreateFormFile(field, name)
	if err != nil {
		api.t.Fatal(err)
	}
	_, _ = fw.Write(content)
	_ = w.Close()
	req := httptest.NewRequest(http.MethodPost, path, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	api.h.ServeHTTP(rec, req)
	return Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// Must fails the test unless the status is want; it returns the response.
func (api *API) Must(want int, r Response) Response {
	api.t.Helper()
	if r.Status != want {
		api.t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	return r
}

// Login returns a token for the user.
func (api *API) Login(email, password string) string {
	api.t.Helper()
	r := api.Must(200, api.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}))
	tok, _ := r.JSON()["token"].(string)
	return tok
}

// Admin creates an admin user directly and returns its token.
func (api *API) Admin() string {
	api.t.Helper()
	_, err := api.A.Auth.CreateUser(context.Background(), auth.SystemActor(), auth.UserInput{
		Name: "Admin", Email: "admin@test.local", Password: "admin-password", Role: auth.RoleAdmin})
	if err != nil {
		api.t.Fatal(err)
	}
	return api.Login("admin@test.local", "admin-password")
}
