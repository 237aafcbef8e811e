package mail

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the deliverer, registered on a registry of the caller's.
type Metrics struct {
	Sent    prometheus.Counter
	Failed  prometheus.Counter // permanently: 5xx, unrenderable, or out of attempts
	Retried prometheus.Counter // temporary failures queued again
	Queued  prometheus.Gauge   // queued messages after the last run
}

// NewMetrics registers the outbox metrics on reg.
func NewMetrics(reg *prometheus.Registry) (*Metrics, error) {
	m := &Metrics{
		Sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "twinning_mail_sent_total", Help: "Outbox messages delivered."}),
		Failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "twinning_mail_failed_total", Help: "Outbox messages that failed for good (permanent error or out of attempts)."}),
		Retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "twinning_mail_retried_total", Help: "Delivery attempts that failed temporarily and were queued again."}),
		Queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "twinning_mail_queued", Help: "Outbox messages queued, as of the deliverer's last run."}),
	}
	for _, c := range []prometheus.Collector{m.Sent, m.Failed, m.Retried, m.Queued} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// SetQueued reports the number of queued messages.
func (m *Metrics) SetQueued(n int64) {
	if m != nil {
		m.Queued.Set(float64(n))
	}
}

func (m *Metrics) add(r Result) {
	if m == nil {
		return
	}
	m.Sent.Add(float64(r.Sent))
	m.Failed.Add(float64(r.Failed))
	m.Retried.Add(float64(r.Retried))
}
