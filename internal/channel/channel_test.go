package channel_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/channel"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/testutil"
	"github.com/twinning-platform/twinning/internal/validation"
)

type fixture struct {
	db               *database.DB
	svc              *channel.Service
	dl               *channel.Deliverer
	clock            *testutil.Clock
	v                *vendor
	province, county int64
	countyPath       string
	other            int64 // a county elsewhere
}

func setup(t *testing.T, db *database.DB) *fixture {
	ctx := context.Background()
	clock := testutil.NewClock(time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC))
	schools := school.NewService(db, validation.New(), clock.Now)
	sys := auth.SystemActor()
	prov, err := schools.CreateRegion(ctx, sys, school.RegionInput{Name: "湖北省", Level: "province"})
	if err != nil {
		t.Fatal(err)
	}
	city, err := schools.CreateRegion(ctx, sys, school.RegionInput{Name: "黄冈市", Level: "city", ParentID: &prov.ID})
	if err != nil {
		t.Fatal(err)
	}
	county, err := schools.CreateRegion(ctx, sys, school.RegionInput{Name: "麻城市", Level: "county", ParentID: &city.ID})
	if err != nil {
		t.Fatal(err)
	}
	other, err := schools.CreateRegion(ctx, sys, school.RegionInput{Name: "江岸区", Level: "county", ParentID: &prov.ID})
	if err != nil {
		t.Fatal(err)
	}
	v := newVendor(t, clock.Now)
	svc := channel.NewService(db, schools, channel.Config{AllowHosts: []string{"127.0.0.1"}, PerMinute: 20, Timeout: 5 * time.Second,
		BaseURL: "http://twinning.test"}, clock.Now)
	return &fixture{db: db, svc: svc, dl: channel.NewDeliverer(svc, nil, nil), clock: clock, v: v,
		province: prov.ID, county: county.ID, countyPath: county.Path, other: other.ID}
}

func (f *fixture) robot(t *testing.T, in channel.RobotInput, region int64) int64 {
	t.Helper()
	r, err := f.svc.Create(context.Background(), auth.SystemActor(), region, in)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func (f *fixture) queue(t *testing.T, n int, paths ...string) {
	t.Helper()
	for i := range n {
		err := f.db.WithTx(context.Background(), func(ctx context.Context) error {
			_, err := f.svc.Queue(ctx, channel.Batch{Kind: "breach", Title: "结对帮扶违约通知", Link: "http://twinning.test/dashboard",
				Items: []channel.Item{{Section: "违约", Paths: paths, Text: "武汉六中 → 麻城五中 第" + string(rune('0'+i%10)) + "项"}}}, f.clock.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) statuses(t *testing.T) map[string]int {
	t.Helper()
	var ms []channel.Message
	if err := f.db.Conn(context.Background()).Find(&ms).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, m := range ms {
		out[m.Status]++
	}
	return out
}

func TestWebhookRules(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		f := setup(t, db)
		ctx := context.Background()
		cases := []struct {
			kind, url string
			ok        bool
		}{
			{"dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=abc", true},
			{"dingtalk", "https://oapi.dingtalk.com:443/robot/send?access_token=abc", true},
			{"dingtalk", "http://oapi.dingtalk.com/robot/send?access_token=abc", false},
			{"dingtalk", "https://oapi.dingtalk.com:8443/robot/send?access_token=abc", false},
			{"dingtalk", "https://oapi.dingtalk.com/robot/send", false},
			{"dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1&sign=x", false},
			{"dingtalk", "https://oapi.dingtalk.com.evil.example/robot/send?access_token=abc", false},
			{"dingtalk", "https://user:pw@oapi.dingtalk.com/robot/send?access_token=abc", false},
			{"dingtalk", "https://10.0.0.8/robot/send?access_token=abc", false},
			{"dingtalk", "https://169.254.169.254/robot/send?access_token=abc", false},
			{"dingtalk", "https://localhost/robot/send?access_token=abc", false},
			{"dingtalk", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", false},
			{"wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", true},
			{"wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send", false},
			{"wecom", "https://qyapi.weixin.qq.com/other?key=k", false},
			{"wecom", "http://127.0.0.1:9/cgi-bin/webhook/send?key=k", true}, // allow-listed (tests)
			{"wecom", "http://127.0.0.2:9/cgi-bin/webhook/send?key=k", false},
			{"wecom", "ftp://127.0.0.1/cgi-bin/webhook/send?key=k", false},
		}
		for _, c := range cases {
			_, err := f.svc.Create(ctx, auth.SystemActor(), f.county, channel.RobotInput{Kind: c.kind, Webhook: c.url})
			if c.ok && err != nil {
				t.Errorf("%s %s: %v", c.kind, c.url, err)
			}
			if !c.ok {
				e, isErr := errs.As(err)
				if !isErr || e.Kind != errs.KindInvalid || e.Fields["webhook"] == "" {
					t.Errorf("%s %s: want a webhook field error, got %v", c.kind, c.url, err)
				}
			}
		}
		_, err := f.svc.Create(ctx, auth.SystemActor(), f.county, channel.RobotInput{Kind: "slack", Webhook: "https://x"})
		if e, ok := errs.As(err); !ok || e.Fields["kind"] == "" {
			t.Errorf("kind: %v", err)
		}
		_, err = f.svc.Create(ctx, auth.SystemActor(), f.county, channel.RobotInput{Kind: "wecom", Secret: "SECx",
			Webhook: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"})
		if e, ok := errs.As(err); !ok || e.Fields["secret"] == "" {
			t.Errorf("wecom secret: %v", err)
		}
	})
}

func TestRobotScopes(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		f := setup(t, db)
		ctx := context.Background()
		var provPath string
		db.Conn(ctx).Raw("SELECT path FROM regions WHERE id = ?", f.province).Scan(&provPath)
		countyBureau := auth.Actor{UserID: 0, Role: auth.RoleBureau, RegionID: f.county, RegionPath: f.countyPath}
		provBureau := auth.Actor{Role: auth.RoleBureau, RegionID: f.province, RegionPath: provPath}
		coord := auth.Actor{Role: auth.RoleCoordinator, SchoolID: 1}
		in := channel.RobotInput{Kind: "dingtalk", Webhook: "https://oapi.dingtalk.com/robot/send?access_token=secrettoken123", Secret: "SECabc"}
		r, err := f.svc.Create(ctx, countyBureau, f.county, in)
		if err != nil {
			t.Fatal(err)
		}
		if r.HasSecret != true || strings.Contains(r.Webhook, "secrettoken123") || !strings.Contains(r.Webhook, "secr") {
			t.Errorf("view leaks or loses credentials: %+v", r)
		}
		if _, err := f.svc.Create(ctx, countyBureau, f.other, in); !errs.Is(err, errs.KindNotFound) {
			t.Errorf("county bureau on another county: %v", err)
		}
		if _, err := f.svc.Create(ctx, coord, f.county, in); !errs.Is(err, errs.KindForbidden) {
			t.Errorf("coordinator: %v", err)
		}
		if _, err := f.svc.Create(ctx, auth.SystemActor(), 99999, in); !errs.Is(err, errs.KindNotFound) {
			t.Errorf("missing region: %v", err)
		}
		list, err := f.svc.List(ctx, provBureau, f.county)
		if err != nil || len(list) != 1 {
			t.Fatalf("province bureau lists the county's robots: %v %v", list, err)
		}
		if err := f.svc.Delete(ctx, auth.Actor{Role: auth.RoleBureau, RegionID: f.other, RegionPath: "/nope/"}, r.ID); !errs.Is(err, errs.KindNotFound) {
			t.Errorf("delete by another bureau: %v", err)
		}
		if err := f.svc.Delete(ctx, countyBureau, r.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Delete(ctx, countyBureau, r.ID); !errs.Is(err, errs.KindNotFound) {
			t.Errorf("second delete: %v", err)
		}
		var audits int64
		db.Conn(ctx).Table("audit_log").Where("entity = ?", "robot").Count(&audits)
		if audits != 2 {
			t.Errorf("audit rows %d, want 2", audits)
		}
	})
}

// A signed DingTalk robot: every post carries a valid signature; 25 posts
// go out 20 in the first minute and 5 in the next, none dropped, none
// doubled; a robot with the wrong secret fails at once (permanent).
func TestDingTalkSigningAndPacing(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		f := setup(t, db)
		ctx := context.Background()
		f.v.secrets["tok1"] = "SECgood"
		f.v.secrets["tok2"] = "SECgood"
		good := f.robot(t, channel.RobotInput{Kind: "dingtalk", Webhook: f.v.url("/robot/send", "access_token=tok1"), Secret: "SECgood"}, f.county)
		f.robot(t, channel.RobotInput{Kind: "dingtalk", Webhook: f.v.url("/robot/send", "access_token=tok2"), Secret: "SECwrong"}, f.county)
		// a robot of another county receives nothing of this batch
		f.robot(t, channel.RobotInput{Kind: "dingtalk", Webhook: f.v.url("/robot/send", "access_token=tok3")}, f.other)
		f.queue(t, 25, f.countyPath)

		res, err := f.dl.DeliverDue(ctx, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		// good: 20 sent, 5 paced; wrong secret: its first post fails, the rest are paced or fail
		if res.Sent != 20 {
			t.Fatalf("first minute: %+v", res)
		}
		var wrong []channel.Message
		db.Conn(ctx).Where("robot_id <> ? AND status = ?", good, channel.StatusFailed).Find(&wrong)
		if len(wrong) == 0 || !strings.Contains(wrong[0].LastError, "310000") || wrong[0].Attempts != 1 {
			t.Fatalf("wrong secret: %+v", wrong)
		}
		// within the same minute nothing more goes to the good robot
		f.clock.Set(f.clock.Now().Add(30 * time.Second))
		if res, err = f.dl.DeliverDue(ctx, f.clock.Now()); err != nil || res.Sent != 0 {
			t.Fatalf("half a minute later: %+v %v", res, err)
		}
		f.clock.Set(f.clock.Now().Add(31 * time.Second))
		if res, err = f.dl.DeliverDue(ctx, f.clock.Now()); err != nil || res.Sent != 5 {
			t.Fatalf("next minute: %+v %v", res, err)
		}
		if res, err = f.dl.DeliverDue(ctx, f.clock.Now().Add(time.Hour)); err != nil || res.Sent != 0 {
			t.Fatalf("nothing left: %+v %v", res, err)
		}
		posts := f.v.posts()
		if len(posts) != 25 {
			t.Fatalf("vendor accepted %d posts, want 25", len(posts))
		}
		for _, p := range posts {
			if p.Robot != "tok1" || p.Title != "结对帮扶违约通知" || !strings.Contains(p.Text, "#### 违约") ||
				!strings.Contains(p.Text, "(http://twinning.test/dashboard)") {
				t.Fatalf("post %+v", p)
			}
		}
		stats, err := f.svc.StatsOf(ctx, []int64{good, wrong[0].RobotID})
		if err != nil || stats[good].Sent != 25 || stats[good].Failed != 0 || stats[wrong[0].RobotID].Sent != 0 ||
			stats[wrong[0].RobotID].Failed+stats[wrong[0].RobotID].Queued != 25 || !strings.Contains(stats[wrong[0].RobotID].LastError, "310000") {
			t.Fatalf("stats %+v %+v %v", stats[good], stats[wrong[0].RobotID], err)
		}
		var sent []channel.Message
		db.Conn(ctx).Where("robot_id = ?", good).Find(&sent)
		for _, m := range sent {
			if m.Status != channel.StatusSent || m.Attempts != 1 || m.Reply != "errcode 0: ok" {
				t.Errorf("message %+v", m)
			}
		}
		f.v.check()
	})
}

// The signature's timestamp is now's: a deliverer whose clock is more than
// an hour off the vendor's is refused, and that is permanent.
func TestDingTalkTimestampWindow(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		f := setup(t, db)
		f.v.secrets["tok"] = "SECs"
		f.robot(t, channel.RobotInput{Kind: "dingtalk", Webhook: f.v.url("/robot/send", "access_token=tok"), Secret: "SECs"}, f.county)
		f.queue(t, 2, f.countyPath)
		start := f.clock.Now()
		f.clock.Set(start.Add(59 * time.Minute)) // the vendor's clock runs ahead of the deliverer's now
		res, err := f.dl.DeliverDue(context.Background(), start)
		if err != nil || res.Sent != 2 {
			t.Fatalf("59 minutes behind is within the window: %+v %v", res, err)
		}
		f.queue(t, 1, f.countyPath)
		f.clock.Set(start.Add(2 * time.Hour))
		res, err = f.dl.DeliverDue(context.Background(), start.Add(59*time.Minute))
		if err != nil || res.Failed != 1 {
			t.Fatalf("61 minutes behind: %+v %v", res, err)
		}
		f.v.check()
	})
}

// A 5xx is temporary: retried after the backoff and sent once; the
// vendor's "too fast" answer defers without counting an attempt.
func TestWeComRetryAndVendorLimit(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		f := setup(t, db)
		ctx := context.Background()
		f.v.keys["k1"] = true
		f.robot(t, channel.RobotInput{Kind: "wecom", Webhook: f.v.url("/cgi-bin/webhook/send", "key=k1")}, f.province)
		f.robot(t, channel.RobotInput{Kind: "wecom", Webhook: f.v.url("/cgi-bin/webhook/send", "key=unknown")}, f.province)
		f.queue(t, 1, f.countyPath) // the province's robots cover the county
		f.v.fail5xx = 1
		res, err := f.dl.DeliverDue(ctx, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		// first post met the 502; the unknown key answered 93000
		if res.Retried != 1 || res.Failed != 1 || res.Sent != 0 {
			t.Fatalf("first run: %+v", res)
		}
		if res, _ = f.dl.DeliverDue(ctx, f.clock.Now().Add(59*time.Second)); res.Sent != 0 {
			t.Fatalf("before the backoff: %+v", res)
		}
		if res, _ = f.dl.DeliverDue(ctx, f.clock.Now().Add(time.Minute)); res.Sent != 1 {
			t.Fatalf("after the backoff: %+v", res)
		}
		if st := f.statuses(t); st["sent"] != 1 || st["failed"] != 1 {
			t.Fatalf("statuses %v", st)
		}
		var failed channel.Message
		db.Conn(ctx).Where("status = ?", "failed").Take(&failed)
		if !strings.Contains(failed.LastError, "93000") {
			t.Errorf("failed: %+v", failed)
		}

		// the vendor says "too fast" (another sender shares the robot)
		f.v.limitAll = true
		f.queue(t, 1, f.countyPath)
		now := f.clock.Now().Add(2 * time.Minute)
		res, _ = f.dl.DeliverDue(ctx, now)
		if res.Paced != 1 {
			t.Fatalf("vendor limit: %+v", res)
		}
		var m channel.Message
		db.Conn(ctx).Where("status = ?", "queued").Take(&m)
		if m.Attempts != 0 || m.NextAttemptAt != now.Add(time.Minute).UnixMilli() || !strings.Contains(m.LastError, "45009") {
			t.Fatalf("deferred: %+v", m)
		}
		f.v.limitAll = false
		if res, _ = f.dl.DeliverDue(ctx, now.Add(time.Minute)); res.Sent != 1 {
			t.Fatalf("after the wait: %+v", res)
		}
		if n := len(f.v.posts()); n != 2 {
			t.Fatalf("vendor accepted %d posts, want 2", n)
		}
		f.v.check()
	})
}

// Two deliverers racing (two replicas) never post a message twice, and
// together keep to the robot's 20 a minute.
func TestConcurrentDeliverers(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		f := setup(t, db)
		f.v.keys["k"] = true
		f.robot(t, channel.RobotInput{Kind: "wecom", Webhook: f.v.url("/cgi-bin/webhook/send", "key=k")}, f.county)
		f.queue(t, 30, f.countyPath)
		other := channel.NewDeliverer(f.svc, nil, nil)
		var wg sync.WaitGroup
		for _, d := range []*channel.Deliverer{f.dl, other} {
			wg.Go(func() {
				if _, err := d.DeliverDue(context.Background(), f.clock.Now()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := len(f.v.posts()); n != 20 {
			t.Fatalf("first minute: %d posts, want 20", n)
		}
		f.clock.Set(f.clock.Now().Add(time.Minute))
		if _, err := f.dl.DeliverDue(context.Background(), f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if n := len(f.v.posts()); n != 30 {
			t.Fatalf("%d posts, want 30", n)
		}
		if st := f.statuses(t); st["sent"] != 30 {
			t.Fatalf("statuses %v", st)
		}
		f.v.check()
	})
}

// A long batch is cut to WeCom's 4096 bytes, saying how many lines were left out.
func TestLongPostIsCut(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		f := setup(t, db)
		f.v.keys["k"] = true
		f.robot(t, channel.RobotInput{Kind: "wecom", Webhook: f.v.url("/cgi-bin/webhook/send", "key=k")}, f.county)
		var items []channel.Item
		for range 300 {
			items = append(items, channel.Item{Section: "提醒", Paths: []string{f.countyPath}, Text: strings.Repeat("很长的一行", 5)})
		}
		err := db.WithTx(context.Background(), func(ctx context.Context) error {
			_, err := f.svc.Queue(ctx, channel.Batch{Kind: "reminder", Title: "提醒", Items: items}, f.clock.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := f.dl.DeliverDue(context.Background(), f.clock.Now()); err != nil || res.Sent != 1 {
			t.Fatalf("%+v %v", res, err)
		}
		p := f.v.posts()[0]
		if len(p.Text) > 4096 || !strings.Contains(p.Text, "条未列出") {
			t.Fatalf("len %d: %s", len(p.Text), p.Text[len(p.Text)-100:])
		}
		f.v.check()
	})
}

// A slow vendor: a run starts no post after half its lease and hands the
// untried ones back (no attempt counted), so no other deliverer can take
// a post over while it may still be sending; the next run goes on.
func TestRunStaysWithinItsLease(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		f := setup(t, db)
		f.v.keys["k"] = true
		f.v.delay = 80 * time.Millisecond
		f.robot(t, channel.RobotInput{Kind: "wecom", Webhook: f.v.url("/cgi-bin/webhook/send", "key=k")}, f.county)
		f.queue(t, 6, f.countyPath)
		channel.SetLease(f.dl, 400*time.Millisecond) // half: 200 ms, about three posts
		res, err := f.dl.DeliverDue(context.Background(), f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent >= 6 { // 6 × 80 ms cannot fit in 200 ms
			t.Fatalf("first run sent %d of 6", res.Sent)
		}
		var untried int64
		db.Conn(context.Background()).Model(&channel.Message{}).Where("status = ? AND attempts = 0 AND lease_token = ''", channel.StatusQueued).Count(&untried)
		if int(untried) != 6-res.Sent {
			t.Fatalf("%d handed back, want %d", untried, 6-res.Sent)
		}
		for range 6 {
			if _, err := f.dl.DeliverDue(context.Background(), f.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(f.v.posts()); n != 6 {
			t.Fatalf("%d posts, want 6", n)
		}
		f.v.check()
	})
}
