package channel_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// vendor is a stand-in for DingTalk's and WeCom's robot endpoints that
// checks every request as their documentation specifies and answers in
// their shapes: HTTP 200 with {"errcode":…,"errmsg":…}.
//
// DingTalk (custom robot): POST /robot/send?access_token=T[&timestamp=ms&sign=S],
// JSON {"msgtype":"markdown","markdown":{"title","text"}}; with signing the
// timestamp must be within an hour of the server's clock and sign must be
// urlencode(base64(HmacSHA256(secret, timestamp+"\n"+secret))); at most 20
// messages a minute per robot (errcode 130101 beyond).
// WeCom (group robot): POST /cgi-bin/webhook/send?key=K, JSON
// {"msgtype":"markdown","markdown":{"content"}} with content at most 4096
// bytes; 20 a minute (errcode 45009 beyond); an unknown key is 93000.
type vendor struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	clock    func() time.Time
	secrets  map[string]string // DingTalk access_token → secret ("" unsigned)
	keys     map[string]bool   // WeCom keys
	fail5xx  int               // answer the next n requests with 502
	limitAll bool              // answer every request with the vendor's rate-limit code
	delay    time.Duration     // wait before answering (a slow vendor)
	accepted []post
	sentAt   map[string][]time.Time // per robot, times of accepted posts (vendor clock)
	problems []string
}

type post struct {
	Robot string // token or key
	Title string
	Text  string
}

func newVendor(t *testing.T, clock func() time.Time) *vendor {
	v := &vendor{t: t, clock: clock, secrets: map[string]string{}, keys: map[string]bool{}, sentAt: map[string][]time.Time{}}
	v.srv = httptest.NewServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *vendor) url(path, query string) string { return v.srv.URL + path + "?" + query }

func (v *vendor) answer(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"errcode":%d,"errmsg":%q}`, code, msg)
}

func (v *vendor) problem(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

func (v *vendor) serve(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	delay := v.delay
	v.mu.Unlock()
	time.Sleep(delay)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.fail5xx > 0 {
		v.fail5xx--
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	if r.Method != http.MethodPost {
		v.problem("method %s", r.Method)
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		v.problem("content type %q", ct)
		v.answer(w, 40008, "invalid message type")
		return
	}
	raw, _ := io.ReadAll(r.Body)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	q := r.URL.Query()
	now := v.clock()
	switch r.URL.Path {
	case "/robot/send":
		tok := q.Get("access_token")
		secret, ok := v.secrets[tok]
		if !ok {
			v.answer(w, 300001, "token is not exist")
			return
		}
		if secret != "" {
			ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
			if err != nil {
				v.answer(w, 310000, "sign not match, timestamp missing")
				return
			}
			if d := now.Sub(time.UnixMilli(ts)); d > time.Hour || d < -time.Hour {
				v.answer(w, 310000, "invalid timestamp")
				return
			}
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(q.Get("timestamp") + "\n" + secret))
			want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
			// the sign must arrive URL-encoded: the raw query holds its escaped form
			if !strings.Contains(r.URL.RawQuery, "sign="+urlEscape(want)) || q.Get("sign") != want {
				v.answer(w, 310000, "sign not match")
				return
			}
		}
		var b struct {
			MsgType  string `json:"msgtype"`
			Markdown *struct {
				Title string `json:"title"`
				Text  string `json:"text"`
			} `json:"markdown"`
		}
		if err := dec.Decode(&b); err != nil || b.MsgType != "markdown" || b.Markdown == nil || b.Markdown.Title == "" || b.Markdown.Text == "" {
			v.problem("dingtalk body %s", raw)
			v.answer(w, 300005, "param error")
			return
		}
		if v.limitAll || v.overLimit(tok, now) {
			v.answer(w, 130101, "send too fast, exceed 20 times per minute")
			return
		}
		v.accepted = append(v.accepted, post{Robot: tok, Title: b.Markdown.Title, Text: b.Markdown.Text})
		v.sentAt[tok] = append(v.sentAt[tok], now)
		v.answer(w, 0, "ok")
	case "/cgi-bin/webhook/send":
		key := q.Get("key")
		if !v.keys[key] {
			v.answer(w, 93000, "invalid webhook url")
			return
		}
		var b struct {
			MsgType  string `json:"msgtype"`
			Markdown *struct {
				Content string `json:"content"`
			} `json:"markdown"`
		}
		if err := dec.Decode(&b); err != nil || b.MsgType != "markdown" || b.Markdown == nil || b.Markdown.Content == "" {
			v.problem("wecom body %s", raw)
			v.answer(w, 40008, "invalid message type")
			return
		}
		if len(b.Markdown.Content) > 4096 {
			v.answer(w, 40058, "markdown.content exceed max length 4096")
			return
		}
		if v.limitAll || v.overLimit(key, now) {
			v.answer(w, 45009, "api freq out of limit")
			return
		}
		v.accepted = append(v.accepted, post{Robot: key, Text: b.Markdown.Content})
		v.sentAt[key] = append(v.sentAt[key], now)
		v.answer(w, 0, "ok")
	default:
		v.problem("path %s", r.URL.Path)
		http.NotFound(w, r)
	}
}

// overLimit: 20 accepted posts in the minute before now.
func (v *vendor) overLimit(robot string, now time.Time) bool {
	n := 0
	for _, t := range v.sentAt[robot] {
		if now.Sub(t) < time.Minute {
			n++
		}
	}
	return n >= 20
}

func urlEscape(s string) string {
	r := strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D")
	return r.Replace(s)
}

func (v *vendor) posts() []post {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]post(nil), v.accepted...)
}

func (v *vendor) check() {
	v.t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, p := range v.problems {
		v.t.Errorf("vendor stand-in: %s", p)
	}
}
