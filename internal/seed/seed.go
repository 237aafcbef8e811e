// Package seed loads the demo programme (internal/seed/demo-programme.yaml,
// real pairs and quotas from the source plans) through the same services
// the API uses, in one transaction: either all of it lands or none.
//
// The YAML's dates are written for one day, Anchor (2026-02-15, the worked
// example of DESIGN §3): pairs from 2025-09-01, a term of history. LoadAt
// lays the same programme out around any day instead — the default
// calendar of the school year containing it and its neighbours, the pairs
// starting with the previous term, the history shifted with them, the
// current term's recent activities counted back from that day — so a demo
// started today looks alive today.
package seed

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
)

//go:embed demo-programme.yaml
var demoYAML []byte

// Programme is the shape of demo-programme.yaml.
type Programme struct {
	Timezone string `yaml:"timezone"`
	Terms    []struct {
		SchoolYear string `yaml:"school_year"`
		Season     string `yaml:"season"`
		StartsOn   string `yaml:"starts_on"`
		EndsOn     string `yaml:"ends_on"`
	} `yaml:"terms"`
	Regions []struct {
		Key, Name, Level, Parent string
	} `yaml:"regions"`
	Schools []struct {
		Key, Name, Region, Stage string
	} `yaml:"schools"`
	Agreements map[string]struct {
		Title       string `yaml:"title"`
		Commitments []struct {
			Categories  []string `yaml:"categories"`
			Measure     string   `yaml:"measure"`
			Minimum     quantity `yaml:"minimum"`
			Period      string   `yaml:"period"`
			Description string   `yaml:"description"`
		} `yaml:"commitments"`
	} `yaml:"agreements"`
	Pairs []struct {
		Supporting string `yaml:"supporting"`
		Supported  string `yaml:"supported"`
		StartsOn   string `yaml:"starts_on"`
		EndsOn     string `yaml:"ends_on"`
		Round      string `yaml:"round"`
		Agreement  string `yaml:"agreement"`
		SignedOn   string `yaml:"signed_on"`
	} `yaml:"pairs"`
	Users []struct {
		Name, Email, Role, Region, School, Password string
	} `yaml:"users"`
	Activities []struct {
		Pair          []string  `yaml:"pair"`
		Category      string    `yaml:"category"`
		Title         string    `yaml:"title"`
		OccurredOn    string    `yaml:"occurred_on"`
		Hours         *quantity `yaml:"hours"`
		Persons       *int      `yaml:"persons"`
		LoggedBy      string    `yaml:"logged_by"`
		Status        string    `yaml:"status"`
		DisputeReason string    `yaml:"dispute_reason"`
	} `yaml:"activities"`
	// Recent are the current term's activities, dated days_ago before the
	// day the demo is loaded (LoadAt with Recent): pending ones for the
	// principals' inboxes and a few confirmed ones.
	Recent []struct {
		Pair     []string  `yaml:"pair"`
		Category string    `yaml:"category"`
		Title    string    `yaml:"title"`
		DaysAgo  int       `yaml:"days_ago"`
		Hours    *quantity `yaml:"hours"`
		Persons  *int      `yaml:"persons"`
		LoggedBy string    `yaml:"logged_by"`
		Status   string    `yaml:"status"`
	} `yaml:"recent"`
}

// Anchor is the day the YAML's dates are written for.
func Anchor() date.Date { return date.New(2026, 2, 15) }

// Options lay the demo out around a day.
type Options struct {
	// Today is the programme's local date the demo is loaded on.
	Today date.Date
	// Now is the instant of loading (for the sweep); nothing here reads
	// the wall clock.
	Now time.Time
	// Recent adds the current term's activities of Programme.Recent.
	Recent bool
	// Sweep, when set, runs one compliance sweep as of Today after the
	// programme is written (notices and outbox messages, as the scheduler
	// would), so that reminders and breach notices are already there.
	Sweep func(ctx context.Context, at date.Date, now time.Time) error
}

// layout is how LoadAt moves the YAML's dates: the default calendar
// around Today, and every pair, agreement and historical activity shifted
// by the same number of days, so the pairs start with the previous term.
func layout(p Programme, today date.Date) (Programme, int, error) {
	terms := calendar.DefaultTerms(calendar.DefaultYear(today)-1, calendar.DefaultYear(today)+1)
	cal := calendar.New(terms)
	cur, ok := cal.TermOn(today)
	if !ok {
		return p, 0, fmt.Errorf("seed: no default term on %s", today)
	}
	prev := cur
	for _, t := range terms {
		if t.EndsOn.Before(cur.StartsOn) {
			prev = t
		}
	}
	var first date.Date
	for _, pr := range p.Pairs {
		if d := date.MustParse(pr.StartsOn); first.IsZero() || d.Before(first) {
			first = d
		}
	}
	shift := first.DaysUntil(prev.StartsOn)
	move := func(s string) string {
		if s == "" {
			return s
		}
		return date.MustParse(s).AddDays(shift).String()
	}
	out := p
	out.Terms = nil
	for _, t := range terms {
		out.Terms = append(out.Terms, struct {
			SchoolYear string `yaml:"school_year"`
			Season     string `yaml:"season"`
			StartsOn   string `yaml:"starts_on"`
			EndsOn     string `yaml:"ends_on"`
		}{t.SchoolYear, t.Season, t.StartsOn.String(), t.EndsOn.String()})
	}
	out.Pairs = append(out.Pairs[:0:0], p.Pairs...)
	for i := range out.Pairs {
		pr := &out.Pairs[i]
		pr.StartsOn, pr.EndsOn, pr.SignedOn = move(pr.StartsOn), move(pr.EndsOn), move(pr.SignedOn)
	}
	out.Activities = append(out.Activities[:0:0], p.Activities...)
	for i := range out.Activities {
		out.Activities[i].OccurredOn = move(out.Activities[i].OccurredOn)
	}
	return out, shift, nil
}

// quantity reads a YAML number exactly from its text (2.2 is 220
// hundredths, never a float64 on the way).
type quantity struct{ decimal.D }

func (q *quantity) UnmarshalYAML(n *yaml.Node) error {
	d, err := decimal.Parse(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q: %w", n.Line, n.Value, err)
	}
	q.D = d
	return nil
}

// Demo parses the embedded demo programme.
func Demo() (Programme, error) {
	var p Programme
	err := yaml.Unmarshal(demoYAML, &p)
	return p, err
}

// Services are what loading needs.
type Services struct {
	DB         *database.DB
	Auth       *auth.Service
	Schools    *school.Service
	Terms      *calendar.Service
	Pairs      *pairing.Service
	Activities *activity.Service
}

// Login is a demo account to print.
type Login struct{ Role, Email, Password, Name string }

// Load writes the programme into an empty database with the YAML's own
// dates (as of Anchor): the fixed demo the tests rely on.
func Load(ctx context.Context, s Services, p Programme) ([]Login, error) {
	return load(ctx, s, p, Options{Today: Anchor()})
}

// LoadAt writes the programme laid out around opt.Today (see the package
// comment), then runs opt.Sweep if set.
func LoadAt(ctx context.Context, s Services, p Programme, opt Options) ([]Login, error) {
	laid, _, err := layout(p, opt.Today)
	if err != nil {
		return nil, err
	}
	logins, err := load(ctx, s, laid, opt)
	if err != nil || opt.Sweep == nil {
		return logins, err
	}
	return logins, opt.Sweep(ctx, opt.Today, opt.Now)
}

func load(ctx context.Context, s Services, p Programme, opt Options) ([]Login, error) {
	var n int64
	if err := s.DB.Conn(ctx).Raw("SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM regions) + (SELECT COUNT(*) FROM terms)").Scan(&n).Error; err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, fmt.Errorf("seed: the database is not empty; the demo is loaded only into an empty one")
	}
	sys := auth.SystemActor()
	var logins []Login
	err := s.DB.WithTx(ctx, func(ctx context.Context) error {
		for _, t := range p.Terms {
			if _, err := s.Terms.CreateTerm(ctx, sys, calendar.TermInput{SchoolYear: t.SchoolYear, Season: t.Season,
				StartsOn: date.MustParse(t.StartsOn), EndsOn: date.MustParse(t.EndsOn)}); err != nil {
				return fmt.Errorf("term %s-%s: %w", t.SchoolYear, t.Season, err)
			}
		}
		regions := map[string]int64{}
		for _, r := range p.Regions {
			in := school.RegionInput{Name: r.Name, Level: r.Level}
			if r.Parent != "" {
				id := regions[r.Parent]
				in.ParentID = &id
			}
			reg, err := s.Schools.CreateRegion(ctx, sys, in)
			if err != nil {
				return fmt.Errorf("region %s: %w", r.Key, err)
			}
			regions[r.Key] = reg.ID
		}
		schools := map[string]int64{}
		for _, sc := range p.Schools {
			row, err := s.Schools.CreateSchool(ctx, sys, school.SchoolInput{Name: sc.Name, RegionID: regions[sc.Region], Stage: sc.Stage})
			if err != nil {
				return fmt.Errorf("school %s: %w", sc.Key, err)
			}
			schools[sc.Key] = row.ID
		}
		pairs := map[[2]string]int64{}
		for _, pr := range p.Pairs {
			pair, err := s.Pairs.CreatePair(ctx, sys, pairing.PairInput{SupportingSchoolID: schools[pr.Supporting], SupportedSchoolID: schools[pr.Supported],
				StartsOn: date.MustParse(pr.StartsOn), EndsOn: date.MustParse(pr.EndsOn), Round: pr.Round})
			if err != nil {
				return fmt.Errorf("pair %s-%s: %w", pr.Supporting, pr.Supported, err)
			}
			pairs[[2]string{pr.Supporting, pr.Supported}] = pair.ID
			tpl, ok := p.Agreements[pr.Agreement]
			if !ok {
				return fmt.Errorf("pair %s-%s: no agreement template %q", pr.Supporting, pr.Supported, pr.Agreement)
			}
			in := pairing.AgreementInput{Title: tpl.Title, SignedOn: date.MustParse(pr.SignedOn),
				EffectiveFrom: date.MustParse(pr.StartsOn), EffectiveTo: date.MustParse(pr.EndsOn)}
			for _, c := range tpl.Commitments {
				in.Commitments = append(in.Commitments, pairing.CommitmentInput{Categories: c.Categories, Measure: c.Measure,
					Minimum: c.Minimum.D, Period: c.Period, Description: c.Description})
			}
			if _, err := s.Pairs.CreateAgreement(ctx, sys, pair.ID, in); err != nil {
				return fmt.Errorf("agreement of %s-%s: %w", pr.Supporting, pr.Supported, err)
			}
		}
		users := map[string]auth.User{}
		for _, u := range p.Users {
			// the demo people read Chinese: their language is set, as if chosen
			in := auth.UserInput{Name: u.Name, Email: u.Email, Password: u.Password, Role: u.Role, Locale: auth.LocaleZH}
			if u.School != "" {
				id := schools[u.School]
				in.SchoolID = &id
			}
			if u.Region != "" {
				id := regions[u.Region]
				in.RegionID = &id
			}
			row, err := s.Auth.CreateUser(ctx, sys, in)
			if err != nil {
				return fmt.Errorf("user %s: %w", u.Email, err)
			}
			users[u.Email] = row
			logins = append(logins, Login{Role: u.Role, Email: u.Email, Password: u.Password, Name: u.Name})
		}
		// History is imported as logged on the activities' own dates.
		for _, a := range p.Activities {
			pairID := pairs[[2]string{a.Pair[0], a.Pair[1]}]
			logger := users[a.LoggedBy]
			if pairID == 0 || logger.SchoolID == nil {
				return fmt.Errorf("activity %q: unknown pair or logger", a.Title)
			}
			occurred := date.MustParse(a.OccurredOn)
			var hours *decimal.D
			if a.Hours != nil {
				hours = &a.Hours.D
			}
			if _, err := s.Activities.Import(ctx, sys, pairID, activity.ImportInput{
				Input:            activity.Input{Category: a.Category, Title: a.Title, OccurredOn: occurred, Hours: hours, Persons: a.Persons},
				LoggedBySchoolID: *logger.SchoolID, LoggedByUserID: logger.ID, LoggedOn: occurred,
				Status: a.Status, DisputeReason: a.DisputeReason,
			}); err != nil {
				return fmt.Errorf("activity %q: %w", a.Title, err)
			}
		}
		if !opt.Recent {
			return nil
		}
		cal, err := s.Terms.Calendar(ctx)
		if err != nil {
			return err
		}
		cur, ok := cal.TermOn(opt.Today)
		for _, a := range p.Recent {
			pairID := pairs[[2]string{a.Pair[0], a.Pair[1]}]
			logger := users[a.LoggedBy]
			if pairID == 0 || logger.SchoolID == nil {
				return fmt.Errorf("recent activity %q: unknown pair or logger", a.Title)
			}
			occurred := opt.Today.AddDays(-a.DaysAgo)
			if !ok || occurred.Before(cur.StartsOn) {
				continue // the current term is younger than this entry
			}
			var hours *decimal.D
			if a.Hours != nil {
				hours = &a.Hours.D
			}
			if _, err := s.Activities.Import(ctx, sys, pairID, activity.ImportInput{
				Input:            activity.Input{Category: a.Category, Title: a.Title, OccurredOn: occurred, Hours: hours, Persons: a.Persons},
				LoggedBySchoolID: *logger.SchoolID, LoggedByUserID: logger.ID, LoggedOn: occurred, Status: a.Status,
			}); err != nil {
				return fmt.Errorf("recent activity %q: %w", a.Title, err)
			}
		}
		return nil
	})
	return logins, err
}
