package importer

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
)

// Inviter sends the accounts created by an import their invitation (the
// account package of issue 8), inside the import's transaction: an
// outbox message per user, written or rolled back with the import.
type Inviter interface {
	InviteTx(ctx context.Context, userIDs []int64, now time.Time) error
	// WakeMail tells the deliverer, after the commit, that mail is waiting
	// (the invitations go out within seconds, not at the next tick).
	WakeMail()
}

// Importer checks and imports workbooks and exports them.
type Importer struct {
	db      *database.DB
	schools *school.Service
	pairs   *pairing.Service
	users   *auth.Service
	now     func() time.Time
	// rebuild recomputes the compliance read model of existing pairs whose
	// agreements the import added or changed (compliance.Ledger.RebuildPairs)
	// and the status read model; called after every import (an empty list
	// when no existing pair changed).
	rebuild func(ctx context.Context, pairIDs []int64) error
	inviter Inviter // nil: no invitations (accounts not wired)
}

// New wires the importer; inviter may be nil.
func New(db *database.DB, schools *school.Service, pairs *pairing.Service, users *auth.Service, now func() time.Time,
	rebuild func(ctx context.Context, pairIDs []int64) error, inviter Inviter) *Importer {
	return &Importer{db: db, schools: schools, pairs: pairs, users: users, now: now, rebuild: rebuild, inviter: inviter}
}

// Counts are numbers of records per kind.
type Counts struct {
	Regions     int `json:"regions"`
	Schools     int `json:"schools"`
	Users       int `json:"users"`
	Pairs       int `json:"pairs"`
	Agreements  int `json:"agreements"`
	Commitments int `json:"commitments"`
}

// Result is what a successful check or import did (or would do).
type Result struct {
	DryRun    bool   `json:"dry_run"`
	Created   Counts `json:"created"`
	Updated   Counts `json:"updated"`
	Unchanged Counts `json:"unchanged"`
}

// RowError is one mistake in the workbook: the sheet and column as named
// in the file, the row as Excel numbers it (the header is row 1).
type RowError struct {
	Sheet   string `json:"sheet"`
	Row     int    `json:"row"`
	Column  string `json:"column"`
	Message string `json:"message"`
}

// Failed is the error of a workbook with mistakes: all of them, and
// nothing was written.
type Failed struct{ Rows []RowError }

func (f *Failed) Error() string {
	return fmt.Sprintf("the workbook has %d errors; nothing was imported", len(f.Rows))
}

// Message is the summary in the caller's language.
func (f *Failed) Message(lang string) string {
	if lang == LangEN {
		return f.Error()
	}
	return fmt.Sprintf("工作簿中有 %d 处错误，未导入任何内容", len(f.Rows))
}

// Import checks the workbook read from r and, unless dryRun, writes it in
// one transaction audited as one import. lang is the language of the
// importer's own messages. A workbook with mistakes answers *Failed.
func (im *Importer) Import(ctx context.Context, a auth.Actor, r io.Reader, lang string, dryRun bool) (Result, error) {
	if !a.IsAdmin() && !a.IsBureau() {
		return Result{}, errs.Forbidden("only an admin or a bureau may import")
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return Result{}, errs.Malformed("file", "the upload cannot be read")
	}
	b, err := readBook(raw, lang)
	if err != nil {
		return Result{}, err
	}
	if len(b.errs) > 0 {
		return Result{}, &Failed{Rows: b.errs}
	}
	var res Result
	run := func(ctx context.Context) error {
		p := newPlan(im, a, b, lang)
		if err := p.check(ctx); err != nil {
			return err
		}
		if len(p.errs) > 0 {
			return &Failed{Rows: p.sortedErrors()}
		}
		res = p.result()
		res.DryRun = dryRun
		if dryRun {
			return nil
		}
		return p.apply(ctx)
	}
	if dryRun {
		err = run(ctx)
	} else {
		err = im.db.WithTx(ctx, run)
		if err == nil && im.inviter != nil && res.Created.Users > 0 {
			im.inviter.WakeMail()
		}
	}
	return res, err
}

// Check is Import with dryRun, returning the workbook's errors (nil when
// none) for the annotated copy.
func (im *Importer) Check(ctx context.Context, a auth.Actor, r io.Reader, lang string) ([]RowError, error) {
	_, err := im.Import(ctx, a, r, lang, true)
	if f, ok := err.(*Failed); ok {
		return f.Rows, nil
	}
	return nil, err
}

func (p *plan) sortedErrors() []RowError {
	order := map[string]int{}
	for i, s := range sheets {
		order[p.book.sheet(s.key).name] = i
	}
	out := p.errs
	sort.SliceStable(out, func(i, j int) bool {
		if order[out[i].Sheet] != order[out[j].Sheet] {
			return order[out[i].Sheet] < order[out[j].Sheet]
		}
		return out[i].Row < out[j].Row
	})
	return out
}
