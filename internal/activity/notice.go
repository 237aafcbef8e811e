package activity

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	texttemplate "text/template"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/i18n"
	"github.com/twinning-platform/twinning/internal/mail"
)

// Notice kinds of the workflow (the notices table of internal/notify).
const (
	// KindDisputed tells the logger that the counterpart's principal
	// disputed the activity (dedupe key disputed:<activity>:<n>, the n-th
	// dispute of it).
	KindDisputed = "disputed"
	// KindAmended tells the principal who disputed that the logger
	// amended it (amended:<activity>:<n>, answering the n-th dispute).
	KindAmended = "amended"
)

// teller writes the workflow's notices and their mail in the caller's
// transaction; the deliverer sends them later. A nil teller tells nothing
// (services built without mail, e.g. the seed loader).
type teller struct {
	outbox  *mail.Outbox
	wake    func() // after the commit: the deliverer sends at once (nil: at its tick)
	baseURL string
	text    map[string]*texttemplate.Template
	html    map[string]*htmltemplate.Template
}

// WithNotices makes disputes and amendments tell the other side, in app
// and by mail (templates/mail/<locale>/{disputed,amended}.{txt,html}).
func (s *Service) WithNotices(outbox *mail.Outbox, wake func(), fsys fs.FS, baseURL string) (*Service, error) {
	t := &teller{outbox: outbox, wake: wake, baseURL: strings.TrimRight(baseURL, "/"),
		text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for _, l := range i18n.Locales() {
		for _, k := range []string{KindDisputed, KindAmended} {
			key := l + "/" + k
			tt, err := texttemplate.ParseFS(fsys, "mail/"+key+".txt")
			if err != nil {
				return nil, fmt.Errorf("mail template %s: %w", key, err)
			}
			ht, err := htmltemplate.ParseFS(fsys, "mail/layout.html", "mail/"+key+".html")
			if err != nil {
				return nil, fmt.Errorf("mail template %s: %w", key, err)
			}
			t.text[key], t.html[key] = tt, ht
		}
	}
	s.tell = t
	return s, nil
}

// noticeRow is a row of the notices table.
type noticeRow struct {
	ID         int64 `gorm:"primaryKey"`
	Kind       string
	DedupeKey  string
	PairID     *int64
	ActivityID *int64
	UserID     *int64
	PeriodKey  string
	AsOf       date.Date
	Details    string
	RunToken   string
	CreatedAt  time.Time
}

func (noticeRow) TableName() string { return "notices" }

// noticeMail is what the disputed and amended templates see.
type noticeMail struct {
	Locale, Subject, Recipient, Footer string
	Title, OccurredOn, Reason, By      string
	URL                                string
}

// send inserts the notice for user (skipped when its dedupe key exists:
// a retried transaction tells once) and, when new, its mail.
func (t *teller) send(ctx context.Context, conn *gorm.DB, kind string, n int, act Activity, userID int64, byName, reason string, today date.Date, now time.Time) error {
	var u struct {
		ID     int64
		Name   string
		Email  string
		Locale string
	}
	if err := conn.Session(&gorm.Session{NewDB: true}).Table("users").Select("id, name, email, COALESCE(locale, '') AS locale").
		Where("id = ? AND active = ?", userID, true).Take(&u).Error; err != nil {
		if err == gorm.ErrRecordNotFound {
			return nil // a deactivated account is told nothing
		}
		return err
	}
	details, _ := json.Marshal(map[string]any{"activity_id": act.ID, "title": act.Title, "reason": reason, "n": n})
	pair, aid, uid := act.PairID, act.ID, u.ID
	row := noticeRow{Kind: kind, DedupeKey: fmt.Sprintf("%s:%d:%d", kind, act.ID, n), PairID: &pair, ActivityID: &aid,
		UserID: &uid, AsOf: today, Details: string(details), CreatedAt: now.UTC()}
	res := conn.Session(&gorm.Session{NewDB: true}).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 || u.Email == "" {
		return nil
	}
	loc := "zh-CN"
	if u.Locale == "en" {
		loc = "en"
	}
	d := &noticeMail{Locale: loc, Recipient: u.Name, Title: act.Title, OccurredOn: act.OccurredOn.String(), Reason: reason, By: byName,
		URL: fmt.Sprintf("%s/activities/%d", t.baseURL, act.ID)}
	d.Footer = "本邮件由结对帮扶平台自动发送。"
	if loc == "en" {
		d.Footer = "Sent by the school twinning platform."
	}
	key := loc + "/" + kind
	var subj, text, html bytes.Buffer
	if err := t.text[key].ExecuteTemplate(&subj, "subject", d); err != nil {
		return err
	}
	d.Subject = strings.TrimSpace(subj.String())
	if err := t.text[key].ExecuteTemplate(&text, "text", d); err != nil {
		return err
	}
	if err := t.html[key].ExecuteTemplate(&html, "layout", d); err != nil {
		return err
	}
	msg := &mail.Message{Kind: kind, PairID: &pair, RecipientUserID: &uid, To: mail.Address(u.Name, u.Email), Locale: loc,
		Subject: d.Subject, BodyText: strings.TrimSpace(text.String()) + "\n", BodyHTML: html.String()}
	if err := t.outbox.Enqueue(ctx, []*mail.Message{msg}, now); err != nil {
		return err
	}
	return conn.Session(&gorm.Session{NewDB: true}).Exec("INSERT INTO message_notices (message_id, notice_id) VALUES (?, ?)", msg.ID, row.ID).Error
}

// woke signals the deliverer after a transaction that told someone.
func (s *Service) woke(err error, told bool) {
	if err == nil && told && s.tell != nil && s.tell.wake != nil {
		s.tell.wake()
	}
}
