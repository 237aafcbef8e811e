package activity

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
)

// Files stores evidence under a directory. Stored names are random; the
// original name is kept only in the database.
type Files struct{ dir string }

// NewFiles stores under dir (created on demand).
func NewFiles(dir string) *Files { return &Files{dir: dir} }

// allowed maps sniffed content types to extensions: photos from phones and
// scanned documents.
var allowed = map[string]string{
	"image/jpeg":      ".jpg",
	"image/png":       ".png",
	"image/gif":       ".gif",
	"image/webp":      ".webp",
	"application/pdf": ".pdf",
}

// maxEvidencePerActivity keeps one activity from filling the disk.
const maxEvidencePerActivity = 20

// put streams r into a new file, checking the size limit and the sniffed
// content type. It returns the storage key, type, size and SHA-256.
func (f *Files) put(r io.Reader, limit int64) (key, ctype string, size int64, sum string, err error) {
	br := bufio.NewReaderSize(r, 512)
	head, _ := br.Peek(512)
	ctype = http.DetectContentType(head)
	if i := strings.IndexByte(ctype, ';'); i >= 0 {
		ctype = ctype[:i]
	}
	ext, ok := allowed[ctype]
	if !ok {
		return "", "", 0, "", errs.Field("file", "must be an image (JPEG, PNG, GIF, WebP) or a PDF; this looks like "+ctype)
	}
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", "", 0, "", err
	}
	key = filepath.Join(hex.EncodeToString(rnd[:1]), hex.EncodeToString(rnd[:])+ext)
	full := filepath.Join(f.dir, key)
	if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
		return "", "", 0, "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(full), ".upload-*")
	if err != nil {
		return "", "", 0, "", err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), io.LimitReader(br, limit+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", 0, "", err
	}
	if size > limit {
		return "", "", 0, "", errs.TooLarge("file", fmt.Sprintf("must be at most %d MiB", limit>>20))
	}
	if err := os.Rename(tmp.Name(), full); err != nil {
		return "", "", 0, "", err
	}
	return key, ctype, size, hex.EncodeToString(h.Sum(nil)), nil
}

// Open opens a stored file.
func (f *Files) Open(key string) (*os.File, error) {
	if strings.Contains(key, "..") {
		return nil, errors.New("bad storage key")
	}
	return os.Open(filepath.Join(f.dir, key))
}

func (f *Files) remove(key string) { _ = os.Remove(filepath.Join(f.dir, key)) }

// Put stores a file with the same checks as evidence (sniffed type: photos
// or PDF; size limit), for other records that keep files (the signed
// agreement).
func (f *Files) Put(r io.Reader, limit int64) (key, ctype string, size int64, sum string, err error) {
	return f.put(r, limit)
}

// Remove deletes a stored file (after the row pointing at it is gone).
func (f *Files) Remove(key string) { f.remove(key) }

// CleanName keeps a displayable original file name.
func CleanName(name string) string { return cleanName(name) }

// RemoveEvidence deletes a file from an activity while it is pending or
// disputed, by the coordinator who logged it. The row and its audit entry
// go in one transaction (the status re-checked under it, as AddEvidence
// does); the file is removed after the commit, so a failed transaction
// never leaves a row without its file.
func (s *Service) RemoveEvidence(ctx context.Context, a auth.Actor, id int64) error {
	var ev Evidence
	err := s.db.Conn(ctx).First(&ev, id).Error
	if database.IsNotFound(err) {
		return errs.NotFound("evidence")
	}
	if err != nil {
		return err
	}
	act, _, err := s.load(ctx, a, ev.ActivityID)
	if errs.Is(err, errs.KindNotFound) {
		return errs.NotFound("evidence")
	}
	if err != nil {
		return err
	}
	if err := s.mustBeLogger(a, act); err != nil {
		return err
	}
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		res := conn.Model(&Activity{}).Where("id = ? AND status IN ?", act.ID, []string{Pending, Disputed}).Update("updated_at", s.now().UTC())
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var cur string
			if err := conn.Model(&Activity{}).Select("status").Where("id = ?", act.ID).Scan(&cur).Error; err != nil {
				return err
			}
			if cur != Pending && cur != Disputed {
				return errs.Conflict("wrong_status", "status", "evidence can only be removed while the activity is pending or disputed; it is "+cur)
			}
		}
		del := conn.Exec("DELETE FROM evidence WHERE id = ?", ev.ID)
		if del.Error != nil {
			return del.Error
		}
		if del.RowsAffected == 0 {
			return errs.NotFound("evidence")
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "evidence.remove", "activity", act.ID,
			map[string]any{"evidence_id": ev.ID, "file_name": ev.FileName, "sha256": ev.SHA256})
	})
	if err != nil {
		return err
	}
	s.files.remove(ev.StorageKey)
	return nil
}

// cleanName keeps a displayable original file name: no path, and no
// control or invisible format characters (CR/LF, tabs, right-to-left
// overrides that disguise "gpj.exe" as "exe.jpg").
func cleanName(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	if !utf8.ValidString(name) || name == "." || name == "/" {
		name = "evidence"
	}
	if len(name) > 200 { // keep the end (the extension), cut between characters
		cut := len(name) - 200
		for cut < len(name) && !utf8.RuneStart(name[cut]) {
			cut++
		}
		name = name[cut:]
	}
	return name
}

// AddEvidence stores a file for a pending or disputed activity of the
// actor's own. The file is written first and removed again if the database
// write fails, so no row ever points at a missing file.
func (s *Service) AddEvidence(ctx context.Context, a auth.Actor, activityID int64, name string, r io.Reader) (Evidence, error) {
	act, _, err := s.load(ctx, a, activityID)
	if err != nil {
		return Evidence{}, err
	}
	if err := s.mustBeLogger(a, act); err != nil {
		return Evidence{}, err
	}
	if act.Status != Pending && act.Status != Disputed {
		return Evidence{}, errs.Conflict("wrong_status", "status", "evidence can only be added while the activity is pending or disputed")
	}
	key, ctype, size, sum, err := s.files.put(r, s.maxEvidence)
	if err != nil {
		return Evidence{}, err
	}
	ev := Evidence{ActivityID: act.ID, FileName: cleanName(name), ContentType: ctype, Size: size,
		StorageKey: key, SHA256: sum, UploadedBy: a.UserID, CreatedAt: s.now().UTC()}
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		// re-check under the transaction: a confirmation may have landed.
		// The UPDATE locks the row first (so the count below is not raced
		// either). MySQL reports only rows it changed, and an unchanged
		// updated_at (the same instant) changes nothing: then the status,
		// read after the lock, tells whether the activity was decided.
		res := conn.Model(&Activity{}).Where("id = ? AND status IN ?", act.ID, []string{Pending, Disputed}).Update("updated_at", s.now().UTC())
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var cur string
			if err := conn.Model(&Activity{}).Select("status").Where("id = ?", act.ID).Scan(&cur).Error; err != nil {
				return err
			}
			if cur != Pending && cur != Disputed {
				return errs.Conflict("wrong_status", "status", "the activity was decided meanwhile")
			}
		}
		var n int64
		if err := conn.Model(&Evidence{}).Where("activity_id = ?", act.ID).Count(&n).Error; err != nil {
			return err
		}
		if n >= maxEvidencePerActivity {
			return errs.Conflict("too_many_files", "file", fmt.Sprintf("an activity can have at most %d files", maxEvidencePerActivity))
		}
		// the school's stored evidence and waiting uploads, this file
		// included, within its quota
		if err := s.withinQuota(ctx, "file", act.LoggedBySchoolID, size); err != nil {
			return err
		}
		if err := conn.Create(&ev).Error; err != nil {
			return err
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "evidence.add", "activity", act.ID,
			map[string]any{"evidence_id": ev.ID, "file_name": ev.FileName, "size": size, "sha256": sum})
	})
	if err != nil {
		s.files.remove(key)
		return Evidence{}, err
	}
	return ev, nil
}

// OpenEvidence returns the evidence row and its file, if a may see the
// activity.
func (s *Service) OpenEvidence(ctx context.Context, a auth.Actor, id int64) (Evidence, *os.File, error) {
	var ev Evidence
	err := s.db.Conn(ctx).First(&ev, id).Error
	if database.IsNotFound(err) {
		return ev, nil, errs.NotFound("evidence")
	}
	if err != nil {
		return ev, nil, err
	}
	if _, _, err := s.load(ctx, a, ev.ActivityID); err != nil {
		if errs.Is(err, errs.KindNotFound) {
			return ev, nil, errs.NotFound("evidence")
		}
		return ev, nil, err
	}
	f, err := s.files.Open(ev.StorageKey)
	return ev, f, err
}
