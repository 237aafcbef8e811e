package circular

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	texttemplate "text/template"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/i18n"
)

// mailKinds are the templates of templates/mail/<locale>/<kind>.{txt,html}.
var mailKinds = []string{"circular", "rectify"}

type mailer struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

func newMailer(fsys fs.FS) (*mailer, error) {
	m := &mailer{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for _, l := range i18n.Locales() {
		for _, k := range mailKinds {
			key := l + "/" + k
			t, err := texttemplate.ParseFS(fsys, "mail/"+key+".txt")
			if err != nil {
				return nil, fmt.Errorf("mail template %s: %w", key, err)
			}
			h, err := htmltemplate.ParseFS(fsys, "mail/layout.html", "mail/"+key+".html")
			if err != nil {
				return nil, fmt.Errorf("mail template %s: %w", key, err)
			}
			m.text[key], m.html[key] = t, h
		}
	}
	return m, nil
}

// mailData is what the circular and rectify templates see.
type mailData struct {
	Locale, Subject, Recipient, Footer string
	Issuer, Title, Number, Period      string
	School                             string
	Lines                              []mailLine
	RectifyBy                          string
	DaysLeft                           int
	Overdue                            bool // rectify: the escalation to the bureau
	Returned                           bool // rectify: the report came back
	Reason                             string
	URL                                string
}

type mailLine struct {
	Counterpart, Commitment, Period, Required, Achieved string
}

type rendered struct{ Subject, Text, HTML string }

func (m *mailer) render(kind, locale string, d *mailData) (rendered, error) {
	key := locale + "/" + kind
	t, ok := m.text[key]
	if !ok {
		return rendered{}, fmt.Errorf("no mail template %s", key)
	}
	d.Locale = locale
	var subj, text, html bytes.Buffer
	if err := t.ExecuteTemplate(&subj, "subject", d); err != nil {
		return rendered{}, err
	}
	d.Subject = strings.TrimSpace(subj.String())
	if err := t.ExecuteTemplate(&text, "text", d); err != nil {
		return rendered{}, err
	}
	if err := m.html[key].ExecuteTemplate(&html, "layout", d); err != nil {
		return rendered{}, err
	}
	return rendered{Subject: d.Subject, Text: strings.TrimSpace(text.String()) + "\n", HTML: html.String()}, nil
}

func footer(loc string) string {
	if loc == "en" {
		return "Sent by the school twinning platform. You receive this because of your role at a school named in the circular."
	}
	return "本邮件由结对帮扶平台自动发送。您因在被通报学校的职务收到此邮件。"
}

func (s *Service) circularData(c *Circular, r recipient, g SchoolGroup) *mailData {
	loc := r.locale()
	d := &mailData{Recipient: r.Name, Footer: footer(loc), Issuer: c.Issuer, Title: c.Title, Number: c.Number,
		Period: calendar.KeyWords(c.PeriodKey, loc), School: g.Name,
		URL: fmt.Sprintf("%s/circulars/%d", strings.TrimRight(s.cfg.BaseURL, "/"), c.ID)}
	if c.RectifyBy != nil {
		d.RectifyBy = c.RectifyBy.String()
	}
	for _, l := range g.Lines {
		d.Lines = append(d.Lines, mailLine{Counterpart: l.Counterpart, Commitment: l.Commitment,
			Period: calendar.KeyWords(l.PeriodKey, loc), Required: l.Required.String(), Achieved: l.Achieved.String()})
	}
	return d
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
