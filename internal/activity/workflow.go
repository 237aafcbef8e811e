package activity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/category"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/patch"
)

// Input is what a coordinator logs or amends.
type Input struct {
	Category    string     `json:"category" validate:"required"`
	Title       string     `json:"title" validate:"required,max=200"`
	OccurredOn  date.Date  `json:"occurred_on"`
	Hours       *decimal.D `json:"hours"`
	Persons     *int       `json:"persons"`
	Description string     `json:"description" validate:"max=5000"`
	Location    string     `json:"location" validate:"max=200"`
	// UploadIDs are staged uploads (POST /api/v1/uploads) that become the
	// activity's evidence in the same transaction (issue 10).
	UploadIDs []string `json:"upload_ids,omitempty" validate:"max=20"`
}

// check validates in against the pair as of today.
func (in Input) check(p pairing.Pair, today date.Date) error {
	f := errs.Fields{}
	if !category.Valid(in.Category) {
		f.Add("category", "unknown category; one of "+strings.Join(category.All(), ", "))
	}
	switch {
	case in.OccurredOn.IsZero():
		f.Add("occurred_on", "is required")
	case in.OccurredOn.After(today):
		f.Add("occurred_on", "must not be in the future (today is "+today.String()+")")
	case !p.Covers(in.OccurredOn):
		span := p.StartsOn.String() + " to " + p.EndsOn.String()
		if p.EndsOn.IsZero() {
			span = "from " + p.StartsOn.String()
		}
		f.Add("occurred_on", "must lie within the pair's span ("+span+")")
	}
	if in.Hours != nil {
		h := *in.Hours
		// (a third decimal place is refused when the JSON is decoded)
		switch {
		case h < 0:
			f.Add("hours", "must not be negative")
		case h > decimal.FromInt(1000):
			f.Add("hours", "must be at most 1000")
		}
	}
	if in.Persons != nil && (*in.Persons < 1 || *in.Persons > 10000) {
		f.Add("persons", "must be between 1 and 10000")
	}
	if strings.TrimSpace(in.Title) == "" {
		f.Add("title", "is required")
	}
	return f.Err()
}

func (in Input) apply(a *Activity) {
	a.Category = in.Category
	a.Title = strings.TrimSpace(in.Title)
	a.OccurredOn = in.OccurredOn
	a.Hours = 0
	if in.Hours != nil {
		a.Hours = *in.Hours
	}
	a.Persons = 1
	if in.Persons != nil {
		a.Persons = *in.Persons
	}
	a.Description = strings.TrimSpace(in.Description)
	a.Location = strings.TrimSpace(in.Location)
}

// idempotencyRow remembers the first answer to a keyed POST.
type idempotencyRow struct {
	ID          int64 `gorm:"primaryKey"`
	UserID      int64
	IdemKey     string
	RequestHash string
	StatusCode  int
	Response    string
	CreatedAt   time.Time
}

func (idempotencyRow) TableName() string { return "idempotency_keys" }

// Log records a new pending activity. With a non-empty idempotency key, a
// retry of the same request returns the first result (replayed = true)
// instead of logging twice; the same key with a different request is an
// error. The key row is written in the same transaction as the activity, so
// a concurrent duplicate fails on the unique key and then reads the winner.
func (s *Service) Log(ctx context.Context, a auth.Actor, pairID int64, in Input, idemKey string) (act Activity, replayed bool, err error) {
	if err := s.val.Validate(in); err != nil {
		return Activity{}, false, s.withRules(ctx, a, pairID, in, err)
	}
	hash := requestHash(pairID, in)
	if act, ok, err := s.recall(ctx, a.UserID, idemKey, hash); ok || err != nil {
		return act, ok, err
	}
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		p, err := s.pairs.Pair(ctx, a, pairID)
		if err != nil {
			return err
		}
		if a.Role != auth.RoleCoordinator || p.Counterpart(a.SchoolID) == 0 {
			return errs.Forbidden("only a coordinator of one of the pair's schools may log activities")
		}
		if p.Status != pairing.Active {
			return errs.Conflict("pair_not_active", "pair_id", "the pair is "+p.Status+"; activities can only be logged on an active pair")
		}
		if err := in.check(p, s.today()); err != nil {
			return err
		}
		now := s.now().UTC()
		act = Activity{PairID: p.ID, LoggedByUserID: a.UserID, LoggedBySchoolID: a.SchoolID,
			LoggedAt: now, LoggedOn: date.Of(now, s.loc), Status: Pending}
		in.apply(&act)
		conn := s.db.Conn(ctx)
		if err := conn.Create(&act).Error; err != nil {
			return err
		}
		if err := s.ledger.Move(ctx, act.PairID, nil, act.fact()); err != nil {
			return err
		}
		if err := s.claim(ctx, a, act, in.UploadIDs); err != nil {
			return err
		}
		if err := s.decorate(ctx, []*Activity{&act}); err != nil {
			return err
		}
		if err := s.remember(ctx, a.UserID, idemKey, hash, 201, act, now); err != nil {
			return err
		}
		return audit.Record(ctx, conn, now, a.UserID, "activity.log", "activity", act.ID, in)
	})
	return s.settled(ctx, a.UserID, idemKey, hash, act, err)
}

func (s *Service) replay(ctx context.Context, userID int64, key, hash string) (Activity, bool, error) {
	var row idempotencyRow
	err := s.db.Conn(ctx).Where("user_id = ? AND idem_key = ?", userID, key).Take(&row).Error
	if database.IsNotFound(err) {
		return Activity{}, false, nil
	}
	if err != nil {
		return Activity{}, false, err
	}
	if row.RequestHash != hash {
		return Activity{}, false, errs.Conflict("idempotency_key_reused", "Idempotency-Key", "this key was already used for a different request")
	}
	var act Activity
	if err := json.Unmarshal([]byte(row.Response), &act); err != nil {
		return Activity{}, false, err
	}
	return act, true, nil
}

func requestHash(pairID int64, in Input) string {
	// the files are not part of the request's identity: a form sent twice
	// without JavaScript stages its file twice, under new tokens, and is
	// still the same submission
	in.UploadIDs = nil
	b, _ := json.Marshal(struct {
		PairID int64
		In     Input
	}{pairID, in})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// withRules adds, to the shape errors of in (missing or too long fields),
// the rule errors of the fields that are there (a date in the future or
// outside the pair's span, an unknown category), so a form shows every
// mistake at once. When the pair is not visible, the shape errors stand
// alone, as before.
func (s *Service) withRules(ctx context.Context, a auth.Actor, pairID int64, in Input, shape error) error {
	se, ok := errs.As(shape)
	if !ok || se.Kind != errs.KindInvalid {
		return shape
	}
	p, err := s.pairs.Pair(ctx, a, pairID)
	if err != nil {
		return shape
	}
	re, ok := errs.As(in.check(p, s.today()))
	if !ok {
		return shape
	}
	f := errs.Fields{}
	for k, v := range se.Fields {
		f.Add(k, v)
	}
	for k, v := range re.Fields {
		f.Add(k, v)
	}
	return f.Err()
}

// ImportInput is an audited historical record entered by an admin or a
// bureau. Imported activities are exempt from the no-back-filling rule.
type ImportInput struct {
	Input
	LoggedBySchoolID int64     `json:"logged_by_school_id" validate:"required"`
	LoggedByUserID   int64     `json:"logged_by_user_id"`
	LoggedOn         date.Date `json:"logged_on"`
	Status           string    `json:"status" validate:"required"`
	DisputeReason    string    `json:"dispute_reason" validate:"max=1000"`
}

// Import records a historical activity as of its LoggedOn date.
func (s *Service) Import(ctx context.Context, a auth.Actor, pairID int64, in ImportInput) (Activity, error) {
	if !a.IsAdmin() && !a.IsBureau() {
		return Activity{}, errs.Forbidden("only an admin or a bureau may import historical records")
	}
	if err := s.val.Validate(in); err != nil {
		return Activity{}, err
	}
	if len(in.UploadIDs) > 0 {
		return Activity{}, errs.Field("upload_ids", "an imported record takes no files")
	}
	var act Activity
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		p, err := s.pairs.Pair(ctx, a, pairID)
		if err != nil {
			return err
		}
		if err := s.pairs.CanManage(ctx, a, p); err != nil {
			return err
		}
		f := errs.Fields{}
		if p.Counterpart(in.LoggedBySchoolID) == 0 {
			f.Add("logged_by_school_id", "must be one of the pair's schools")
		}
		switch in.Status {
		case Pending, Confirmed, Withdrawn:
		case Disputed:
			if strings.TrimSpace(in.DisputeReason) == "" {
				f.Add("dispute_reason", "is required for a disputed record")
			}
		default:
			f.Add("status", "must be pending, confirmed, disputed or withdrawn")
		}
		loggedOn := in.LoggedOn
		if loggedOn.IsZero() {
			loggedOn = s.today()
		}
		if loggedOn.Before(in.OccurredOn) || loggedOn.After(s.today()) {
			f.Add("logged_on", "must lie between occurred_on and today")
		}
		if err := f.Err(); err != nil {
			return err
		}
		if err := in.check(p, s.today()); err != nil {
			return err
		}
		conn := s.db.Conn(ctx)
		logger := a.UserID
		if in.LoggedByUserID != 0 {
			var n int64
			if err := conn.Table("users").Where("id = ? AND school_id = ?", in.LoggedByUserID, in.LoggedBySchoolID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return errs.Field("logged_by_user_id", "must be a user of the logging school")
			}
			logger = in.LoggedByUserID
		}
		// the record is dated on its own day, mid-morning local time
		loggedAt := time.Date(loggedOn.Year(), loggedOn.Month(), loggedOn.Day(), 10, 0, 0, 0, s.loc).UTC()
		act = Activity{PairID: p.ID, LoggedByUserID: logger, LoggedBySchoolID: in.LoggedBySchoolID,
			LoggedAt: loggedAt, LoggedOn: loggedOn, Imported: true, Status: in.Status}
		in.Input.apply(&act)
		if in.Status == Confirmed || in.Status == Disputed {
			act.DecidedAt = &loggedAt
			act.DisputeReason = strings.TrimSpace(in.DisputeReason)
		}
		if err := conn.Create(&act).Error; err != nil {
			return err
		}
		if err := s.ledger.Move(ctx, act.PairID, nil, act.fact()); err != nil {
			return err
		}
		if err := s.decorate(ctx, []*Activity{&act}); err != nil {
			return err
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "activity.import", "activity", act.ID, in)
	})
	return act, err
}

// load reads an activity and its pair as visible to a.
func (s *Service) load(ctx context.Context, a auth.Actor, id int64) (Activity, pairing.Pair, error) {
	var act Activity
	err := s.db.Conn(ctx).First(&act, id).Error
	if database.IsNotFound(err) {
		return act, pairing.Pair{}, errs.NotFound("activity")
	}
	if err != nil {
		return act, pairing.Pair{}, err
	}
	p, err := s.pairs.Pair(ctx, a, act.PairID)
	if errs.Is(err, errs.KindNotFound) {
		return act, p, errs.NotFound("activity")
	}
	return act, p, err
}

// transition moves an activity from one of the allowed statuses. The
// stored row is read under a row lock (MySQL; SQLite write transactions
// are already exclusive) so the read model moves from exactly the state
// that is replaced, and the UPDATE is conditional on the status as well,
// so two concurrent decisions cannot both win.
func (s *Service) transition(ctx context.Context, act *Activity, from []string, set map[string]any) error {
	q := s.db.Conn(ctx)
	if s.db.Dialect() == database.MySQL {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var before Activity
	if err := q.First(&before, act.ID).Error; err != nil {
		return err
	}
	set["updated_at"] = s.now().UTC()
	res := s.db.Conn(ctx).Model(&Activity{}).Where("id = ? AND status IN ?", act.ID, from).Updates(set)
	if res.Error != nil {
		return res.Error
	}
	// MySQL counts changed rows only: an UPDATE that matched but changed
	// nothing (the same values at the same instant) affects none. before
	// was read under the row lock, so its status decides.
	if res.RowsAffected == 0 && !slices.Contains(from, before.Status) {
		return errs.Conflict("wrong_status", "status", "the activity is "+before.Status+", not "+strings.Join(from, " or "))
	}
	if err := s.db.Conn(ctx).First(act, act.ID).Error; err != nil {
		return err
	}
	return s.ledger.Move(ctx, act.PairID, before.fact(), act.fact())
}

func (s *Service) mustBeLogger(a auth.Actor, act Activity) error {
	if a.UserID != act.LoggedByUserID || a.Role != auth.RoleCoordinator {
		return errs.Forbidden("only the coordinator who logged this activity may change it")
	}
	return nil
}

// Amend changes a pending or disputed activity; a disputed one becomes
// pending again, awaiting a new decision. in replaces every field.
func (s *Service) Amend(ctx context.Context, a auth.Actor, id int64, in Input) (Activity, error) {
	if err := s.val.Validate(in); err != nil {
		if act, _, lerr := s.load(ctx, a, id); lerr == nil {
			err = s.withRules(ctx, a, act.PairID, in, err)
		}
		return Activity{}, err
	}
	return s.amend(ctx, a, id, func(Activity) (Input, error) { return in, nil }, in)
}

// Patch is a merge patch of an activity (PATCH /activities/:id): absent
// members stay as logged; null clears hours (0), persons (1), description
// and location, and is refused for the required ones.
type Patch struct {
	Category    patch.Field[string]    `json:"category"`
	Title       patch.Field[string]    `json:"title" validate:"omitempty,max=200"`
	OccurredOn  patch.Field[date.Date] `json:"occurred_on"`
	Hours       patch.Field[decimal.D] `json:"hours"`
	Persons     patch.Field[int]       `json:"persons"`
	Description patch.Field[string]    `json:"description" validate:"omitempty,max=5000"`
	Location    patch.Field[string]    `json:"location" validate:"omitempty,max=200"`
	// UploadIDs attach staged uploads (added to the evidence, not a
	// replacement of it).
	UploadIDs []string `json:"upload_ids" validate:"max=20"`
}

// merged is the activity as stored with p applied, as a full Input.
func (p Patch) merged(act Activity) (Input, error) {
	f := errs.Fields{}
	for name, null := range map[string]bool{"category": p.Category.Null, "title": p.Title.Null, "occurred_on": p.OccurredOn.Null} {
		if null {
			f.Add(name, "is required; it cannot be cleared")
		}
	}
	if err := f.Err(); err != nil {
		return Input{}, err
	}
	in := Input{Category: act.Category, Title: act.Title, OccurredOn: act.OccurredOn, Description: act.Description, Location: act.Location}
	if act.Hours != 0 {
		h := act.Hours
		in.Hours = &h
	}
	pe := act.Persons
	in.Persons = &pe
	p.Category.Apply(&in.Category)
	p.Title.Apply(&in.Title)
	p.OccurredOn.Apply(&in.OccurredOn)
	p.Hours.ApplyPtr(&in.Hours)
	p.Persons.ApplyPtr(&in.Persons)
	p.Description.Apply(&in.Description)
	p.Location.Apply(&in.Location)
	in.UploadIDs = p.UploadIDs
	return in, nil
}

// PatchActivity applies a merge patch to a pending or disputed activity,
// with every rule of Amend on the merged result.
func (s *Service) PatchActivity(ctx context.Context, a auth.Actor, id int64, p Patch) (Activity, error) {
	if err := s.val.Validate(p); err != nil {
		return Activity{}, err
	}
	return s.amend(ctx, a, id, p.merged, p)
}

// amend runs one amendment: merge builds the full Input from the stored
// activity (read in the transaction); details is what the audit records.
func (s *Service) amend(ctx context.Context, a auth.Actor, id int64, merge func(Activity) (Input, error), details any) (Activity, error) {
	var act Activity
	told := false
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		var p pairing.Pair
		var err error
		if act, p, err = s.load(ctx, a, id); err != nil {
			return err
		}
		if err := s.mustBeLogger(a, act); err != nil {
			return err
		}
		if act.Status == Confirmed {
			return errs.Conflict("immutable", "status", "a confirmed activity cannot be changed")
		}
		in, err := merge(act)
		if err != nil {
			return err
		}
		if err := s.val.Validate(in); err != nil {
			return s.withRules(ctx, a, act.PairID, in, err)
		}
		if err := in.check(p, s.today()); err != nil {
			return err
		}
		disputedBy := act.DecidedByUserID
		if act.Status != Disputed {
			disputedBy = nil
		}
		before := act
		in.apply(&act)
		if err := s.transition(ctx, &act, []string{Pending, Disputed}, map[string]any{
			"category": act.Category, "title": act.Title, "occurred_on": act.OccurredOn, "hours": act.Hours,
			"persons": act.Persons, "description": act.Description, "location": act.Location,
			"status": Pending, "decided_by_user_id": nil, "decided_at": nil, "dispute_reason": "",
		}); err != nil {
			return err
		}
		if err := s.claim(ctx, a, act, in.UploadIDs); err != nil {
			return err
		}
		if err := s.decorate(ctx, []*Activity{&act}); err != nil {
			return err
		}
		if err := audit.Record(ctx, s.db.Conn(ctx), s.now(), a.UserID, "activity.amend", "activity", act.ID,
			map[string]any{"changes": changes(before, act), "request": details}); err != nil {
			return err
		}
		if disputedBy == nil || s.tell == nil {
			return nil
		}
		// the amendment answers the n-th dispute: tell who disputed it
		n, err := s.disputes(ctx, act.ID)
		if err != nil {
			return err
		}
		told = true
		return s.tell.send(ctx, s.db.Conn(ctx), KindAmended, n, act, *disputedBy, a.Name, "", s.today(), s.now())
	})
	s.woke(err, told)
	return act, err
}

// disputes counts the disputes of an activity so far (from the audit log,
// written in the same transactions): the n of the notices' dedupe keys.
func (s *Service) disputes(ctx context.Context, id int64) (int, error) {
	var n int64
	err := s.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Table("audit_log").
		Where("entity = ? AND entity_id = ? AND action = ?", "activity", id, "activity.dispute").Count(&n).Error
	return int(n), err
}

// decide is confirm or dispute by the counterpart school's principal.
func (s *Service) decide(ctx context.Context, a auth.Actor, id int64, to, reason, key string) (Activity, bool, error) {
	hash := decisionHash(to, id, reason)
	if act, ok, err := s.recall(ctx, a.UserID, key, hash); ok || err != nil {
		return act, ok, err
	}
	var act Activity
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		var p pairing.Pair
		var err error
		if act, p, err = s.load(ctx, a, id); err != nil {
			return err
		}
		if a.Role != auth.RolePrincipal || a.SchoolID == 0 || p.Counterpart(act.LoggedBySchoolID) != a.SchoolID {
			return errs.Forbidden("only the principal of the counterpart school may confirm or dispute this activity")
		}
		now := s.now().UTC()
		if err := s.transition(ctx, &act, []string{Pending}, map[string]any{
			"status": to, "decided_by_user_id": a.UserID, "decided_at": now, "dispute_reason": reason,
		}); err != nil {
			return err
		}
		if err := s.decorate(ctx, []*Activity{&act}); err != nil {
			return err
		}
		if err := audit.Record(ctx, s.db.Conn(ctx), now, a.UserID, "activity."+map[string]string{Confirmed: "confirm", Disputed: "dispute"}[to],
			"activity", act.ID, map[string]string{"reason": reason}); err != nil {
			return err
		}
		if err := s.remember(ctx, a.UserID, key, hash, 200, act, now); err != nil {
			return err
		}
		if to != Disputed || s.tell == nil {
			return nil
		}
		n, err := s.disputes(ctx, act.ID)
		if err != nil {
			return err
		}
		return s.tell.send(ctx, s.db.Conn(ctx), KindDisputed, n, act, act.LoggedByUserID, a.Name, reason, s.today(), now)
	})
	s.woke(err, to == Disputed)
	return s.settled(ctx, a.UserID, key, hash, act, err)
}

// Confirm accepts a pending activity; it then counts and is immutable.
func (s *Service) Confirm(ctx context.Context, a auth.Actor, id int64) (Activity, error) {
	act, _, err := s.decide(ctx, a, id, Confirmed, "", "")
	return act, err
}

// ConfirmOnce is Confirm with an idempotency key (see Keyed decisions).
func (s *Service) ConfirmOnce(ctx context.Context, a auth.Actor, id int64, key string) (Activity, bool, error) {
	return s.decide(ctx, a, id, Confirmed, "", key)
}

// DisputeInput is the body of a dispute.
type DisputeInput struct {
	Reason string `json:"reason" validate:"required,max=1000"`
}

// Dispute rejects a pending activity with a reason.
func (s *Service) Dispute(ctx context.Context, a auth.Actor, id int64, in DisputeInput) (Activity, error) {
	act, _, err := s.DisputeOnce(ctx, a, id, in, "")
	return act, err
}

// DisputeOnce is Dispute with an idempotency key (see Keyed decisions).
func (s *Service) DisputeOnce(ctx context.Context, a auth.Actor, id int64, in DisputeInput, key string) (Activity, bool, error) {
	in.Reason = strings.TrimSpace(in.Reason)
	if err := s.val.Validate(in); err != nil {
		return Activity{}, false, err
	}
	return s.decide(ctx, a, id, Disputed, in.Reason, key)
}

// Withdraw takes back a pending or disputed activity.
func (s *Service) Withdraw(ctx context.Context, a auth.Actor, id int64) (Activity, error) {
	act, _, err := s.WithdrawOnce(ctx, a, id, "")
	return act, err
}

// WithdrawOnce is Withdraw with an idempotency key (see Keyed decisions).
func (s *Service) WithdrawOnce(ctx context.Context, a auth.Actor, id int64, key string) (Activity, bool, error) {
	hash := decisionHash(Withdrawn, id, "")
	if act, ok, err := s.recall(ctx, a.UserID, key, hash); ok || err != nil {
		return act, ok, err
	}
	var act Activity
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		var err error
		if act, _, err = s.load(ctx, a, id); err != nil {
			return err
		}
		if err := s.mustBeLogger(a, act); err != nil {
			return err
		}
		if err := s.transition(ctx, &act, []string{Pending, Disputed}, map[string]any{"status": Withdrawn}); err != nil {
			return err
		}
		if err := s.decorate(ctx, []*Activity{&act}); err != nil {
			return err
		}
		now := s.now()
		if err := s.remember(ctx, a.UserID, key, hash, 200, act, now); err != nil {
			return err
		}
		return audit.Record(ctx, s.db.Conn(ctx), now, a.UserID, "activity.withdraw", "activity", act.ID, nil)
	})
	return s.settled(ctx, a.UserID, key, hash, act, err)
}

// Keyed decisions. A confirmation, a dispute or a withdrawal sent with an
// Idempotency-Key answers its retry as it answered the first try, as a
// log does: a principal's phone that lost the answer (a dropped
// connection, a 503 when the database could not tell whether the COMMIT
// took) sends it again and gets the confirmed activity, not 409 "the
// activity is confirmed, not pending" about its own confirmation. The
// answer is stored with the decision, in its transaction.

// decisionHash identifies a decision: the same key for another activity,
// another decision or another reason is a different request.
func decisionHash(to string, id int64, reason string) string {
	b, _ := json.Marshal(struct {
		Decision   string
		ActivityID int64
		Reason     string
	}{to, id, reason})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// recall replays the stored answer to key, if any (nothing without a key).
func (s *Service) recall(ctx context.Context, userID int64, key, hash string) (Activity, bool, error) {
	if key == "" {
		return Activity{}, false, nil
	}
	if len(key) > 255 {
		return Activity{}, false, errs.Field("Idempotency-Key", "must be at most 255 characters")
	}
	return s.replay(ctx, userID, key, hash)
}

// remember stores the answer to key in ctx's transaction (nothing without
// a key).
func (s *Service) remember(ctx context.Context, userID int64, key, hash string, status int, act Activity, now time.Time) error {
	if key == "" {
		return nil
	}
	body, err := json.Marshal(act)
	if err != nil {
		return err
	}
	row := idempotencyRow{UserID: userID, IdemKey: key, RequestHash: hash, StatusCode: status, Response: string(body), CreatedAt: now.UTC()}
	return s.db.Conn(ctx).Create(&row).Error
}

// settled is the answer to a keyed request (a log or a decision) that
// failed: a concurrent try with the same key that committed first makes
// this one fail on the key (a duplicate) or on the status it already
// changed (a conflict), and either way this one answers as that one did.
// Any other failure, or one with no stored answer, stands.
func (s *Service) settled(ctx context.Context, userID int64, key, hash string, act Activity, err error) (Activity, bool, error) {
	if err == nil || key == "" || !(database.IsDuplicate(err) || errs.Is(err, errs.KindConflict)) {
		return act, false, err
	}
	if won, ok, rerr := s.replay(ctx, userID, key, hash); ok || rerr != nil {
		return won, ok, rerr
	}
	return act, false, err
}

// Get returns one activity visible to a.
func (s *Service) Get(ctx context.Context, a auth.Actor, id int64) (Activity, error) {
	act, _, err := s.load(ctx, a, id)
	if err != nil {
		return act, err
	}
	if act.History, err = s.history(ctx, act.ID); err != nil {
		return act, err
	}
	return act, s.decorate(ctx, []*Activity{&act})
}

// decorate fills the derived fields (term, evidence) of a page of
// activities: one evidence query whatever the page size.
func (s *Service) decorate(ctx context.Context, acts []*Activity) error {
	if len(acts) == 0 {
		return nil
	}
	ids := make([]int64, len(acts))
	byID := make(map[int64]*Activity, len(acts))
	for i, a := range acts {
		ids[i] = a.ID
		byID[a.ID] = a
		a.Evidence = []Evidence{}
	}
	var ev []Evidence
	if err := s.db.Conn(ctx).Where("activity_id IN ?", ids).Order("id").Find(&ev).Error; err != nil {
		return err
	}
	for _, e := range ev {
		byID[e.ActivityID].Evidence = append(byID[e.ActivityID].Evidence, e)
	}
	cal, err := s.terms.Calendar(ctx)
	if err != nil {
		return err
	}
	facts := make([]compliance.Fact, len(acts))
	for i, a := range acts {
		a.Term = nil
		if t, ok := cal.TermOn(a.OccurredOn); ok {
			k := t.Key()
			a.Term = &k
		}
		facts[i] = *a.fact()
	}
	accs, err := s.ledger.Account(ctx, facts)
	if err != nil {
		return err
	}
	for i, a := range acts {
		a.CountsToward, a.NotCounted = accs[i].CountsToward, accs[i].NotCounted
		if a.Status == Withdrawn {
			// taken back: it counts toward nothing and misses nothing
			a.CountsToward, a.NotCounted = []compliance.Counted{}, []compliance.NotCounted{}
		}
	}
	return nil
}

// Preview says where an activity of category on day, logged today on the
// pair, would count: the log form warns before submission when a period's
// books are already closed.
func (s *Service) Preview(ctx context.Context, a auth.Actor, pairID int64, cat string, day date.Date) (compliance.Accounting, error) {
	if _, err := s.pairs.Pair(ctx, a, pairID); err != nil {
		return compliance.Accounting{}, err
	}
	accs, err := s.ledger.Account(ctx, []compliance.Fact{{PairID: pairID, Category: cat, OccurredOn: day, LoggedOn: s.today(), Status: Pending, Count: 1}})
	if err != nil {
		return compliance.Accounting{}, err
	}
	return accs[0], nil
}
