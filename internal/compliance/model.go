// Package compliance evaluates commitments against confirmed activity
// (DESIGN §3). Evaluate is pure: it gets data and a date and returns items,
// so the API, the dashboards and the sweeps all agree to the day.
package compliance

import (
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
)

// Status of one commitment in one period.
type Status string

const (
	Met      Status = "met"
	OnTrack  Status = "on_track"
	AtRisk   Status = "at_risk"
	Breached Status = "breached"
)

// Rules are the configured thresholds of §3.
type Rules struct {
	GraceDays    int
	ReminderDays []int
}

// Commitment is a quota of an agreement, as the engine needs it.
type Commitment struct {
	ID          int64
	Categories  []string
	Measure     string // count | hours | persons
	Minimum     decimal.D
	Period      calendar.PeriodKind
	Description string
	EndsOn      date.Date // retired: periods starting after it are not required (zero: never)
}

// Agreement is the effective span of an agreement and its commitments.
type Agreement struct {
	ID            int64
	PairID        int64
	EffectiveFrom date.Date
	EffectiveTo   date.Date
	// DecidedThrough is the as-of date of a sweep that evaluated the
	// agreement (zero: none did): the periods whose books closed before it
	// are decided. Mode Undecided reads it. A later sweep records its own
	// date only when a period of the agreement closed its books since
	// (Decided): until then the recorded date selects the same periods.
	DecidedThrough date.Date
	Commitments    []Commitment
}

// Fact is activity of one pair, possibly pre-aggregated by SQL: Count
// activities of Category that occurred on OccurredOn, were logged on
// LoggedOn and are in Status (only "confirmed" and "pending" matter),
// totalling Hours and Persons. Imported facts are audited historical
// records, exempt from the no-back-filling rule.
type Fact struct {
	PairID     int64
	Category   string
	OccurredOn date.Date
	LoggedOn   date.Date
	Imported   bool
	Status     string
	Count      int
	Hours      decimal.D
	Persons    decimal.D
}

// Item is the evaluation of one commitment in one period.
type Item struct {
	PairID       int64               `json:"pair_id"`
	AgreementID  int64               `json:"agreement_id"`
	CommitmentID int64               `json:"commitment_id"`
	Categories   []string            `json:"categories"`
	Measure      string              `json:"measure"`
	Minimum      decimal.D           `json:"minimum"`
	Description  string              `json:"description"`
	Period       calendar.PeriodKind `json:"period"`
	PeriodKey    string              `json:"period_key"`
	PeriodStart  date.Date           `json:"period_start"`
	PeriodEnd    date.Date           `json:"period_end"`
	Required     decimal.D           `json:"required"`
	Achieved     decimal.D           `json:"achieved"`
	Pending      decimal.D           `json:"pending"`
	Status       Status              `json:"status"`
	DaysLeft     int                 `json:"days_left"`
}
