package channel

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// DingTalkSign is DingTalk's signature of a custom robot request:
// Base64(HmacSHA256(key=secret, timestamp+"\n"+secret)), URL-encoded when
// appended as &timestamp=<ms>&sign=<sign>.
func DingTalkSign(timestampMillis int64, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestampMillis, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// markdownBody is the JSON both vendors take for a markdown post.
type dingTalkBody struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
}

type weComBody struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Content string `json:"content"`
	} `json:"markdown"`
}

// vendorReply is the answer of both vendors: errcode 0 is success.
type vendorReply struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// Vendor error codes the deliverer treats specially; every other non-zero
// errcode (bad token or key, bad signature, keyword or IP whitelist
// mismatch, robot disabled…) is permanent: retrying cannot fix it.
const (
	dingTalkTooFast   = 130101 // "send too fast, exceed 20 times per minute"
	dingTalkThrottled = 410100 // sending too fast: throttled
	weComFreqLimit    = 45009  // "api freq out of limit"
	vendorBusy        = -1     // "system busy", both vendors
)

// errRateLimited is the vendor saying "too fast": the post waits, with
// no attempt counted (pacing, never dropping).
type errRateLimited struct {
	wait time.Duration
	msg  string
}

func (e *errRateLimited) Error() string { return e.msg }

// errPermanent is a post that retrying cannot deliver.
type errPermanent struct{ msg string }

func (e *errPermanent) Error() string { return e.msg }

// newRequest builds the vendor request of m for robot r at now.
func newRequest(ctx context.Context, r *Robot, m *Message, now time.Time) (*http.Request, error) {
	var body []byte
	target := r.Webhook
	switch r.Kind {
	case DingTalk:
		var b dingTalkBody
		b.MsgType, b.Markdown.Title, b.Markdown.Text = "markdown", m.Title, m.Body
		body, _ = json.Marshal(b)
		if r.Secret != "" {
			ts := now.UnixMilli()
			target += "&timestamp=" + strconv.FormatInt(ts, 10) + "&sign=" + url.QueryEscape(DingTalkSign(ts, r.Secret))
		}
	case WeCom:
		var b weComBody
		b.MsgType, b.Markdown.Content = "markdown", m.Body
		body, _ = json.Marshal(b)
	default:
		return nil, &errPermanent{"unknown robot kind " + r.Kind}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, &errPermanent{err.Error()}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	return req, nil
}

// post sends m and classifies the answer: nil and the reply on success,
// errRateLimited, errPermanent, or any other error (temporary: network,
// timeout, 5xx, system busy).
func post(ctx context.Context, client *http.Client, r *Robot, m *Message, now time.Time) (string, error) {
	req, err := newRequest(ctx, r, m, now)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return "", &errRateLimited{wait: time.Minute, msg: "HTTP 429"}
	case resp.StatusCode >= 500:
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(string(raw), 200))
	case resp.StatusCode != http.StatusOK:
		return "", &errPermanent{fmt.Sprintf("HTTP %d: %s", resp.StatusCode, truncate(string(raw), 200))}
	}
	var rep vendorReply
	if err := json.Unmarshal(raw, &rep); err != nil || rep.ErrCode == nil {
		return "", fmt.Errorf("unreadable answer: %s", truncate(string(raw), 200))
	}
	reply := fmt.Sprintf("errcode %d: %s", *rep.ErrCode, rep.ErrMsg)
	switch *rep.ErrCode {
	case 0:
		return reply, nil
	case dingTalkTooFast, dingTalkThrottled:
		// DingTalk throttles a robot for 10 minutes once it is over 20 a minute
		return "", &errRateLimited{wait: 10 * time.Minute, msg: reply}
	case weComFreqLimit:
		return "", &errRateLimited{wait: time.Minute, msg: reply}
	case vendorBusy:
		return "", errors.New(reply)
	default:
		return "", &errPermanent{reply}
	}
}

// NewClient is the HTTP client of the deliverer: a timeout on every post
// and no redirects (a redirect could lead a post to an internal address).
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
