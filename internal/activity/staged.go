package activity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
)

// Upload is a staged file (issue 10): a phone uploads each file as soon
// as it is chosen, so a slow network, a refused form or a re-login never
// loses it; the log or amend form then claims it by its token. The token
// is random (not the row id) so nobody can guess another user's upload.
type Upload struct {
	ID          int64      `json:"-" gorm:"primaryKey"`
	Token       string     `json:"id"`
	UserID      int64      `json:"-"`
	SchoolID    int64      `json:"-"`
	FileName    string     `json:"name"`
	ContentType string     `json:"content_type"`
	Size        int64      `json:"size"`
	StorageKey  string     `json:"-"`
	SHA256      string     `json:"-" gorm:"column:sha256"`
	CreatedAt   time.Time  `json:"created_at"`
	ClaimedAt   *time.Time `json:"-"`
	ActivityID  *int64     `json:"-"`
}

func (Upload) TableName() string { return "staged_uploads" }

// maxStagedPerUser bounds a user's unclaimed uploads (the disk is shared;
// a form takes at most a handful).
const maxStagedPerUser = 30

// StagedMaxAge is how long an unclaimed upload is kept (the daily
// clean-up removes older ones).
const StagedMaxAge = 24 * time.Hour

// Stage stores a file for the actor to attach to an activity later, with
// the checks of evidence (sniffed type, size, the school's quota, which
// counts its unclaimed uploads too). The file is written first and removed
// again if the row cannot be written.
func (s *Service) Stage(ctx context.Context, a auth.Actor, name string, r io.Reader) (Upload, error) {
	if a.Role != auth.RoleCoordinator || a.SchoolID == 0 {
		return Upload{}, errs.Forbidden("only a coordinator uploads evidence")
	}
	key, ctype, size, sum, err := s.files.put(r, s.maxEvidence)
	if err != nil {
		return Upload{}, err
	}
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		s.files.remove(key)
		return Upload{}, err
	}
	up := Upload{Token: hex.EncodeToString(rnd[:]), UserID: a.UserID, SchoolID: a.SchoolID, FileName: cleanName(name),
		ContentType: ctype, Size: size, StorageKey: key, SHA256: sum, CreatedAt: s.now().UTC()}
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		up.ID = 0 // a re-run inserts afresh
		var n int64
		if err := conn.Model(&Upload{}).Where("user_id = ? AND claimed_at IS NULL", a.UserID).Count(&n).Error; err != nil {
			return err
		}
		if n >= maxStagedPerUser {
			return errs.Conflict("too_many_files", "file", fmt.Sprintf("at most %d files may wait to be attached; attach or remove some first", maxStagedPerUser))
		}
		if err := s.withinQuota(ctx, "file", a.SchoolID, size); err != nil {
			return err
		}
		return conn.Create(&up).Error
	})
	if err != nil {
		s.files.remove(key)
		return Upload{}, err
	}
	return up, nil
}

// withinQuota checks (the error naming field) that the school's stored evidence and unclaimed
// uploads, with size more, stay within its quota.
func (s *Service) withinQuota(ctx context.Context, field string, schoolID, size int64) error {
	if s.schoolQuota <= 0 {
		return nil
	}
	conn := s.db.Conn(ctx)
	var used, staged int64
	if err := conn.Table("evidence").Select("COALESCE(SUM(evidence.size), 0)").
		Joins("JOIN activities ON activities.id = evidence.activity_id").
		Where("activities.logged_by_school_id = ?", schoolID).Scan(&used).Error; err != nil {
		return err
	}
	if err := conn.Table("staged_uploads").Select("COALESCE(SUM(size), 0)").
		Where("school_id = ? AND claimed_at IS NULL", schoolID).Scan(&staged).Error; err != nil {
		return err
	}
	if used+staged+size > s.schoolQuota {
		return errs.TooLarge(field, fmt.Sprintf("your school's evidence storage is full (%d of %d MiB used); ask the bureau to remove old files or raise the quota",
			(used+staged)>>20, s.schoolQuota>>20))
	}
	return nil
}

// Staged returns the actor's unclaimed upload with this token; anyone
// else's, a claimed one or a missing one is not found.
func (s *Service) Staged(ctx context.Context, a auth.Actor, token string) (Upload, error) {
	var up Upload
	err := s.db.Conn(ctx).Where("token = ? AND user_id = ? AND claimed_at IS NULL", token, a.UserID).Take(&up).Error
	if database.IsNotFound(err) {
		return up, errs.NotFound("upload")
	}
	return up, err
}

// StagedList returns the actor's unclaimed uploads among tokens, in the
// order given (a refused form shows again the files it carried); the
// others are left out.
func (s *Service) StagedList(ctx context.Context, a auth.Actor, tokens []string) ([]Upload, error) {
	tokens = uniqueTokens(tokens)
	if len(tokens) == 0 {
		return nil, nil
	}
	var rows []Upload
	if err := s.db.Conn(ctx).Where("token IN ? AND user_id = ? AND claimed_at IS NULL", tokens, a.UserID).Find(&rows).Error; err != nil {
		return nil, err
	}
	slices.SortFunc(rows, func(x, y Upload) int { return slices.Index(tokens, x.Token) - slices.Index(tokens, y.Token) })
	return rows, nil
}

// Unstage deletes the actor's unclaimed upload: the row by a conditional
// delete (a claim that won keeps it), then the file.
func (s *Service) Unstage(ctx context.Context, a auth.Actor, token string) error {
	up, err := s.Staged(ctx, a, token)
	if err != nil {
		return err
	}
	res := s.db.Conn(ctx).Where("id = ? AND user_id = ? AND claimed_at IS NULL", up.ID, a.UserID).Delete(&Upload{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errs.NotFound("upload")
	}
	s.files.remove(up.StorageKey)
	return nil
}

// uniqueTokens drops empty and repeated tokens, keeping the order.
func uniqueTokens(in []string) []string {
	out := make([]string, 0, len(in))
	for _, t := range in {
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// claim turns the actor's staged uploads into evidence of act, inside the
// caller's transaction: a conditional UPDATE claims the rows that are
// still unclaimed and the actor's; if it claimed fewer than were named,
// one was missing, someone else's or already used, and the whole write is
// refused (422 naming upload_ids), so the activity is never saved with
// fewer files than the form showed.
func (s *Service) claim(ctx context.Context, a auth.Actor, act Activity, tokens []string) error {
	tokens = uniqueTokens(tokens)
	if len(tokens) == 0 {
		return nil
	}
	if len(tokens) > maxEvidencePerActivity {
		return errs.Field("upload_ids", fmt.Sprintf("an activity can have at most %d files", maxEvidencePerActivity))
	}
	conn := s.db.Conn(ctx)
	now := s.now().UTC()
	res := conn.Model(&Upload{}).Where("token IN ? AND user_id = ? AND claimed_at IS NULL", tokens, a.UserID).
		Updates(map[string]any{"claimed_at": now, "activity_id": act.ID})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != int64(len(tokens)) {
		return errs.Field("upload_ids", "a file is no longer waiting to be attached (removed, already attached, or older than a day); choose it again")
	}
	var ups []Upload
	if err := conn.Where("token IN ? AND activity_id = ?", tokens, act.ID).Order("id").Find(&ups).Error; err != nil {
		return err
	}
	var n int64
	if err := conn.Model(&Evidence{}).Where("activity_id = ?", act.ID).Count(&n).Error; err != nil {
		return err
	}
	if n+int64(len(ups)) > maxEvidencePerActivity {
		return errs.Conflict("too_many_files", "upload_ids", fmt.Sprintf("an activity can have at most %d files", maxEvidencePerActivity))
	}
	if s.schoolQuota > 0 {
		// the claimed rows no longer count as staged: the check below is
		// the stored evidence with these files added
		var size int64
		for _, u := range ups {
			size += u.Size
		}
		if err := s.withinQuota(ctx, "upload_ids", act.LoggedBySchoolID, size); err != nil {
			return err
		}
	}
	evs := make([]Evidence, len(ups))
	for i, u := range ups {
		evs[i] = Evidence{ActivityID: act.ID, FileName: u.FileName, ContentType: u.ContentType, Size: u.Size,
			StorageKey: u.StorageKey, SHA256: u.SHA256, UploadedBy: a.UserID, CreatedAt: now}
	}
	if err := conn.Create(&evs).Error; err != nil {
		return err
	}
	details := make([]any, len(evs))
	for i, ev := range evs {
		details[i] = map[string]any{"evidence_id": ev.ID, "file_name": ev.FileName, "size": ev.Size, "sha256": ev.SHA256}
	}
	return audit.RecordMany(ctx, conn, now, a.UserID, "evidence.add", "activity", act.ID, details)
}

// CleanStaged deletes the uploads no form claimed that are older than
// StagedMaxAge at now, and the claimed rows as old (their files are
// evidence now and stay). The unclaimed rows go by a conditional delete
// first; a file is removed only once its row is gone, so a claim that
// wins the race keeps its file. It returns how many files were removed.
func (s *Service) CleanStaged(ctx context.Context, now time.Time) (int, error) {
	cutoff := now.UTC().Add(-StagedMaxAge)
	conn := s.db.Conn(ctx)
	var old []Upload
	if err := conn.Select("id", "storage_key").Where("claimed_at IS NULL AND created_at < ?", cutoff).
		Order("id").Limit(5000).Find(&old).Error; err != nil {
		return 0, err
	}
	removed := 0
	if len(old) > 0 {
		ids := make([]int64, len(old))
		for i, u := range old {
			ids[i] = u.ID
		}
		res := conn.Where("id IN ? AND claimed_at IS NULL", ids).Delete(&Upload{})
		if res.Error != nil {
			return 0, res.Error
		}
		kept := map[int64]bool{}
		if res.RowsAffected != int64(len(ids)) {
			// some were claimed meanwhile: their rows (and files) stay
			var still []int64
			if err := conn.Model(&Upload{}).Where("id IN ?", ids).Pluck("id", &still).Error; err != nil {
				return 0, err
			}
			for _, id := range still {
				kept[id] = true
			}
		}
		for _, u := range old {
			if !kept[u.ID] {
				s.files.remove(u.StorageKey)
				removed++
			}
		}
	}
	if err := conn.Where("claimed_at IS NOT NULL AND claimed_at < ?", cutoff).Delete(&Upload{}).Error; err != nil {
		return removed, err
	}
	return removed, nil
}
