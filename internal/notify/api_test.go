package notify_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/notify"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/testutil"
)

type apiList[T any] struct {
	Items []T   `json:"items"`
	Total int64 `json:"total"`
}

func decode[T any](t *testing.T, r testutil.Response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("%v: %s", err, r.Body)
	}
	return v
}

type noticeJSON struct {
	ID           int64  `json:"id"`
	Kind         string `json:"kind"`
	DedupeKey    string `json:"dedupe_key"`
	PairID       *int64 `json:"pair_id"`
	CommitmentID *int64 `json:"commitment_id"`
	PeriodKey    string `json:"period_key"`
	CreatedAt    string `json:"created_at"`
	MessageID    string `json:"message_id"`
	Status       string `json:"status"`
}

type breachJSON struct {
	PairID    int64   `json:"pair_id"`
	PeriodKey string  `json:"period_key"`
	Required  float64 `json:"required"`
}

// metric reads one sample of the Prometheus text exposition.
func metric(t *testing.T, body, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics:\n%s", name, body)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// 11. The notices, breaches and outbox API, and the metrics.
func TestNoticesBreachesOutboxAPI(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		srv := startSMTP(t)
		w := build(t, db, srv)
		visit, _, _ := busy(w)
		// a second pair wholly in county Y: its bureau's, not the city's
		sup2, sud2 := w.school("支援二中", "Y"), w.school("受援二小", "Y")
		pair2 := w.newPair(sup2, sud2)
		w.agreement(pair2, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"management_exchange"}, Measure: "count", Minimum: decimal.FromInt(2), Period: "term"})
		api := testutil.NewAPI(t, w.a)
		w.at("2026-02-08")
		var admin string
		tok := map[string]string{}
		login := func() { // tokens are issued and checked on the test's clock
			t.Helper()
			if admin == "" {
				admin = api.Admin()
			} else {
				admin = api.Login("admin@test.local", "admin-password")
			}
			for _, k := range []string{supCoord, sudHead, bureauC, bureauY, bureauP, bureauOth} {
				tok[k] = api.Login(k+"@test.local", "password-123")
			}
		}
		login()
		notices := func(who, query string) []noticeJSON {
			t.Helper()
			return decode[apiList[noticeJSON]](t, api.Must(200, api.Do("GET", "/api/v1/notices?"+query, tok[who], nil))).Items
		}

		// a sweep queues; delivery sends
		now := w.at("2026-02-08")
		if _, err := w.a.Sweeper.Sweep(w.ctx, date.MustParse("2026-02-08"), now, false); err != nil {
			t.Fatal(err)
		}
		q := fmt.Sprintf("pair_id=%d&kind=reminder", w.pair.ID)
		wantReminder := key("reminder:%d:2026-02:30", visit)
		for _, n := range notices(supCoord, q) {
			if n.Kind != notify.KindReminder || n.DedupeKey != wantReminder || n.Status != mail.StatusQueued || !strings.HasPrefix(n.MessageID, "<twinning-outbox-") ||
				n.PairID == nil || *n.PairID != w.pair.ID || n.PeriodKey != "2026-02" || n.CreatedAt == "" {
				t.Fatalf("reminder notice before delivery: %+v", n)
			}
		}
		if ns := notices(supCoord, q); len(ns) != 1 {
			t.Fatalf("reminders of the pair: %+v, want %s", ns, wantReminder)
		}
		breaches := notices(supCoord, fmt.Sprintf("pair_id=%d&kind=breach", w.pair.ID))
		if len(breaches) != 6 { // five months and the autumn term
			t.Fatalf("%d breach notices of the pair, want 6: %+v", len(breaches), breaches)
		}
		for _, n := range breaches {
			if n.Kind != notify.KindBreach || *n.PairID != w.pair.ID || n.Status != mail.StatusQueued {
				t.Fatalf("breach notice %+v", n)
			}
		}
		if ns := notices(supCoord, fmt.Sprintf("pair_id=%d", pair2.ID)); len(ns) != 0 {
			t.Fatalf("a coordinator sees another pair's notices: %+v", ns)
		}
		api.Must(422, api.Do("GET", "/api/v1/notices?kind=nonsense", tok[supCoord], nil))

		if _, err := w.a.Deliverer.DeliverDue(w.ctx, now); err != nil {
			t.Fatal(err)
		}
		for _, n := range notices(supCoord, fmt.Sprintf("pair_id=%d", w.pair.ID)) {
			if n.Status != mail.StatusSent {
				t.Fatalf("after delivery: %+v", n)
			}
		}
		delivered(t, w, srv)

		// breaches, each bureau its scope
		type bq struct {
			who, query string
			want       map[int64]int // pair → breaches
		}
		p1, p2 := w.pair.ID, pair2.ID
		for _, c := range []bq{
			{bureauC, "", map[int64]int{p1: 6}},
			{bureauY, "", map[int64]int{p1: 6, p2: 1}},
			{bureauP, "", map[int64]int{p1: 6, p2: 1}},
			{bureauOth, "", map[int64]int{}},
			{bureauP, fmt.Sprintf("region_id=%d", w.regions["C"].ID), map[int64]int{p1: 6}},
			{bureauP, "period_key=2025-2026-autumn", map[int64]int{p1: 1, p2: 1}},
			{bureauC, "period_key=2025-2026-autumn", map[int64]int{p1: 1}},
			{bureauY, fmt.Sprintf("region_id=%d&period_key=2025-10", w.regions["Y"].ID), map[int64]int{p1: 1}},
			{sudHead, "", map[int64]int{p1: 6}},
		} {
			got := map[int64]int{}
			for _, b := range decode[apiList[breachJSON]](t, api.Must(200, api.Do("GET", "/api/v1/breaches?"+c.query, tok[c.who], nil))).Items {
				got[b.PairID]++
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("breaches for %s ?%s: %v, want %v", c.who, c.query, got, c.want)
			}
		}

		// the outbox: admins only; a failed message is retried
		for _, who := range []string{supCoord, bureauP} {
			api.Must(403, api.Do("GET", "/api/v1/outbox", tok[who], nil))
		}
		api.Must(401, api.Do("GET", "/api/v1/outbox", "", nil))
		srv.reject.Store(true)
		res := w.check("2026-03-09") // February's breach and March's reminder; the server refuses them
		login()
		failed := w.messages("")
		var failedIDs []int64
		for _, m := range failed {
			if m.Status == mail.StatusFailed {
				failedIDs = append(failedIDs, m.ID)
			}
		}
		if len(failedIDs) == 0 || len(res.Messages) != len(failedIDs) {
			t.Fatalf("%d messages failed, the sweep queued %d", len(failedIDs), len(res.Messages))
		}
		list := decode[struct {
			Items  []mail.Message   `json:"items"`
			Counts map[string]int64 `json:"counts"`
		}](t, api.Must(200, api.Do("GET", "/api/v1/outbox?status=failed", admin, nil)))
		if len(list.Items) != len(failedIDs) || list.Counts[mail.StatusFailed] != int64(len(failedIDs)) || list.Items[0].LastError == "" {
			t.Fatalf("outbox of failed messages: %+v", list)
		}
		feb := notices(supCoord, fmt.Sprintf("pair_id=%d&kind=breach", w.pair.ID))
		if feb[0].DedupeKey != key("breach:%d:2026-02", visit) || feb[0].Status != mail.StatusFailed {
			t.Fatalf("newest breach notice %+v, want February's, failed", feb[0])
		}

		// the messages of February's breach notice, and the others
		febKey := key("breach:%d:2026-02", visit)
		var febMsgs, others []int64
		for _, id := range failedIDs {
			if slices.Contains(w.linked(id), febKey) {
				febMsgs = append(febMsgs, id)
			} else {
				others = append(others, id)
			}
		}
		if len(febMsgs) != 5 || len(others) == 0 {
			t.Fatalf("February's breach went out in %d messages (want 5), %d others", len(febMsgs), len(others))
		}
		febStatus := func() string {
			t.Helper()
			return notices(supCoord, fmt.Sprintf("pair_id=%d&kind=breach", w.pair.ID))[0].Status
		}
		retry := func(id int64) {
			t.Helper()
			m := decode[mail.Message](t, api.Must(200, api.Do("POST", fmt.Sprintf("/api/v1/outbox/%d/retry", id), admin, nil)))
			if m.ID != id || m.Status != mail.StatusQueued || m.Attempts != 0 {
				t.Fatalf("retried message %+v", m)
			}
		}
		path := fmt.Sprintf("/api/v1/outbox/%d/retry", febMsgs[0])
		api.Must(403, api.Do("POST", path, tok[bureauP], nil))
		api.Must(403, api.Do("POST", path, tok[supCoord], nil))
		retry(febMsgs[0])
		api.Must(409, api.Do("POST", path, admin, nil))
		api.Must(404, api.Do("POST", "/api/v1/outbox/999999/retry", admin, nil))
		if st := febStatus(); st != mail.StatusFailed {
			t.Fatalf("one message queued again, four failed: the notice is %s, want failed", st)
		}
		srv.reject.Store(false)
		deliver := func(want int) {
			t.Helper()
			d, err := w.a.Deliverer.DeliverDue(w.ctx, w.at("2026-03-09"))
			if err != nil || d.Sent != want || d.Failed+d.Retried != 0 {
				t.Fatalf("delivery after retry: %+v, %v; want %d sent", d, err, want)
			}
		}
		deliver(1)
		if st := febStatus(); st != mail.StatusFailed {
			t.Fatalf("one message sent, four failed: the notice is %s, want failed", st)
		}
		for _, id := range febMsgs[1:] {
			retry(id)
		}
		if st := febStatus(); st != mail.StatusQueued {
			t.Fatalf("one message sent, four queued: the notice is %s, want queued", st)
		}
		deliver(4)
		if st := febStatus(); st != mail.StatusSent {
			t.Fatalf("February's breach after the retry: %s, want sent", st)
		}
		for _, id := range others {
			retry(id)
		}
		deliver(len(others))
		delivered(t, w, srv)

		// metrics: notices counted by the check, mail counted by the App's deliverer
		body := string(api.Must(200, api.Do("GET", "/metrics", "", nil)).Body)
		for kind, n := range res.Notices {
			if got := metric(t, body, `twinning_notices_total{kind="`+kind+`"}`); got != float64(n) {
				t.Errorf("twinning_notices_total{kind=%q} = %v, want %d", kind, got, n)
			}
		}
		if res.Notices[notify.KindBreach] == 0 || res.Notices[notify.KindReminder] == 0 {
			t.Fatalf("the check made %v", res.Notices)
		}
		if got, want := metric(t, body, "twinning_mail_sent_total"), float64(len(w.messages(""))); got != want {
			t.Errorf("twinning_mail_sent_total = %v, want %v", got, want)
		}
		if got := metric(t, body, "twinning_mail_failed_total"); got != float64(len(failedIDs)) {
			t.Errorf("twinning_mail_failed_total = %v, want %d", got, len(failedIDs))
		}
	})
}
