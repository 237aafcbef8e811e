package notify

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	texttemplate "text/template"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/i18n"
)

// Kinds of notices and messages.
const (
	KindReminder = "reminder"
	KindBreach   = "breach"
	KindConfirm  = "confirm"
	KindEscalate = "escalate"
	KindDigest   = "digest"
)

var kinds = []string{KindReminder, KindBreach, KindConfirm, KindEscalate, KindDigest}

// Renderer turns mail data into subject, text and HTML from
// templates/mail/<locale>/<kind>.{txt,html}: one place per message for its
// subject and both bodies, in the recipient's language.
type Renderer struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
	cat  *i18n.Catalog
}

// NewRenderer parses every template up front, so a broken template stops
// start-up instead of a sweep.
func NewRenderer(fsys fs.FS, cat *i18n.Catalog) (*Renderer, error) {
	r := &Renderer{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}, cat: cat}
	for _, l := range i18n.Locales() {
		for _, k := range kinds {
			key := l + "/" + k
			t, err := texttemplate.ParseFS(fsys, "mail/"+key+".txt")
			if err != nil {
				return nil, fmt.Errorf("mail template %s: %w", key, err)
			}
			h, err := htmltemplate.ParseFS(fsys, "mail/layout.html", "mail/"+key+".html")
			if err != nil {
				return nil, fmt.Errorf("mail template %s: %w", key, err)
			}
			r.text[key], r.html[key] = t, h
		}
	}
	return r, nil
}

// Rendered is a composed message body.
type Rendered struct{ Subject, Text, HTML string }

// Render fills the templates of kind in locale with data.
func (r *Renderer) Render(kind, locale string, data *Data) (Rendered, error) {
	key := locale + "/" + kind
	t, ok := r.text[key]
	if !ok {
		return Rendered{}, fmt.Errorf("no mail template %s", key)
	}
	data.Locale = locale
	readable(data, locale)
	var subj, text, html bytes.Buffer
	if err := t.ExecuteTemplate(&subj, "subject", data); err != nil {
		return Rendered{}, err
	}
	data.Subject = strings.TrimSpace(subj.String())
	if err := t.ExecuteTemplate(&text, "text", data); err != nil {
		return Rendered{}, err
	}
	if err := r.html[key].ExecuteTemplate(&html, "layout", data); err != nil {
		return Rendered{}, err
	}
	return Rendered{Subject: data.Subject, Text: strings.TrimSpace(text.String()) + "\n", HTML: html.String()}, nil
}

// Subject renders the subject of kind in locale alone: what a sweep stores
// for a message the Composer writes later.
func (r *Renderer) Subject(kind, locale string, data *Data) (string, error) {
	key := locale + "/" + kind
	t, ok := r.text[key]
	if !ok {
		return "", fmt.Errorf("no mail template %s", key)
	}
	data.Locale = locale
	readable(data, locale)
	var subj bytes.Buffer
	if err := t.ExecuteTemplate(&subj, "subject", data); err != nil {
		return "", err
	}
	return strings.TrimSpace(subj.String()), nil
}

// Data is what every mail template sees.
type Data struct {
	Locale, Subject string
	Recipient       string
	Copy            bool // a copy for information (the supported principal's reminder)
	AsOf            string
	Pair            PairRef
	Lines           []Line
	Footer          string
	// digest
	Region       string
	AtRisk       int
	NewBreaches  int
	Groups       []Group
	More         int
	DashboardURL string
	// InboxURL is where a principal confirms (confirmation reminders)
	InboxURL string
}

// readable puts what a reader sees into words (issue 11): periods as
// "2025—2026学年秋季学期" / "autumn term 2025–2026", never raw keys, and the
// inbox link of confirmation reminders, next to the pair's page (every
// pair URL is <base>/pairs/<id>).
func readable(d *Data, locale string) {
	words := func(ls []Line) {
		for i := range ls {
			ls[i].Period = calendar.KeyWords(ls[i].Period, locale)
		}
	}
	words(d.Lines)
	for i := range d.Groups {
		words(d.Groups[i].Lines)
	}
	if i := strings.LastIndex(d.Pair.URL, "/pairs/"); i >= 0 && d.InboxURL == "" {
		d.InboxURL = d.Pair.URL[:i] + "/inbox"
	}
}

// PairRef names a pair and links to its page.
type PairRef struct {
	ID                    int64
	Supporting, Supported string
	URL                   string
}

// Group is one pair's lines in a digest.
type Group struct {
	Pair  PairRef
	Lines []Line
}

// Line is one commitment-period or one activity in a message.
type Line struct {
	Commitment, Description, Period, Status                                string
	Required, Achieved, Pending                                            string
	DaysLeft                                                               int
	ShowDaysLeft                                                           bool
	PeriodLabel, RequiredLabel, AchievedLabel, PendingLabel, DaysLeftLabel string
	// activities
	Title, Category, OccurredOn, LoggedOn string
	DaysPending                           int
}

// number prints 2, 2.5, 10.25 — no trailing zeros.
func number(v decimal.D) string { return v.String() }
