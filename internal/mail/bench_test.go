package mail_test

import (
	"context"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// BenchmarkDeliver10k delivers 10,000 queued messages to a local go-smtp
// server through SMTPSender and reports messages per second. Each outcome
// is its own committed UPDATE, as in production. On MySQL it needs
// TWINNING_TEST_MYSQL_DSN. Run with -run '^$' -bench Deliver10k -benchtime 1x.
func BenchmarkDeliver10k(b *testing.B) {
	for _, dialect := range []string{database.SQLite, database.MySQL} {
		b.Run(dialect, func(b *testing.B) {
			const n = 10_000
			var elapsed time.Duration
			for range b.N {
				b.StopTimer()
				var db *database.DB
				if dialect == database.SQLite {
					db = testutil.SQLite(b)
				} else {
					db = testutil.MySQL(b)
				}
				srv := startServer(b, serverOptions{})
				srv.discard.Store(true)
				ob := mail.NewOutbox(db, "twinning.test", 0)
				for i := 0; i < n; i += 1000 {
					enqueue(b, ob, testMessages(1000), t0)
				}
				snd := &mail.SMTPSender{Host: srv.Host, Port: srv.Port, From: testFrom, TLS: mail.TLSNone, Timeout: 5 * time.Second}
				d := mail.NewDeliverer(ob, snd, mail.DelivererOptions{Batch: 100, MaxBatches: 1000})
				b.StartTimer()
				start := time.Now()
				res, err := d.DeliverDue(context.Background(), t0)
				elapsed += time.Since(start)
				b.StopTimer()
				if err != nil || res.Sent != n || srv.count.Load() != n {
					b.Fatalf("delivered %+v, server got %d, err %v", res, srv.count.Load(), err)
				}
			}
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}
