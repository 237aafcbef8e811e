package pairing

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
)

// Document is a file of a signed agreement (a PDF scan or photos of the
// pages).
type Document struct {
	ID          int64     `json:"id" gorm:"primaryKey"`
	AgreementID int64     `json:"agreement_id"`
	FileName    string    `json:"file_name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	StorageKey  string    `json:"-"`
	SHA256      string    `json:"sha256" gorm:"column:sha256"`
	UploadedBy  int64     `json:"uploaded_by"`
	CreatedAt   time.Time `json:"created_at"`
}

func (Document) TableName() string { return "agreement_documents" }

// FileStore keeps uploaded files: the evidence store, whose checks (a
// sniffed photo or PDF, a size limit) apply to agreements too.
type FileStore interface {
	Put(r io.Reader, limit int64) (key, ctype string, size int64, sum string, err error)
	Open(key string) (*os.File, error)
	Remove(key string)
}

// Documents attaches signed agreements to agreements.
type Documents struct {
	pairs *Service
	files FileStore
	limit int64
	clean func(string) string
}

// NewDocuments wires the documents of agreements; limit is the size limit
// of one file and clean makes an uploaded name displayable.
func NewDocuments(pairs *Service, files FileStore, limit int64, clean func(string) string) *Documents {
	return &Documents{pairs: pairs, files: files, limit: limit, clean: clean}
}

// maxDocumentsPerAgreement: the pages of a signed agreement, photographed.
const maxDocumentsPerAgreement = 30

// Attach stores a file for an agreement a may manage. The file is written
// first and removed if the row cannot be written.
func (d *Documents) Attach(ctx context.Context, a auth.Actor, agreementID int64, name string, r io.Reader) (Document, error) {
	s := d.pairs
	// visibility and rights first, so a refused upload writes no file
	if err := s.db.WithTx(ctx, func(ctx context.Context) error {
		_, _, err := s.agreementFor(ctx, a, agreementID)
		return err
	}); err != nil {
		return Document{}, err
	}
	key, ctype, size, sum, err := d.files.Put(r, d.limit)
	if err != nil {
		return Document{}, err
	}
	doc := Document{AgreementID: agreementID, FileName: d.clean(name), ContentType: ctype, Size: size,
		StorageKey: key, SHA256: sum, UploadedBy: a.UserID, CreatedAt: s.now().UTC()}
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		if _, _, err := s.agreementFor(ctx, a, agreementID); err != nil { // locks the pair
			return err
		}
		conn := s.db.Conn(ctx)
		var n int64
		if err := conn.Model(&Document{}).Where("agreement_id = ?", agreementID).Count(&n).Error; err != nil {
			return err
		}
		if n >= maxDocumentsPerAgreement {
			return errs.Conflict("too_many_files", "file", fmt.Sprintf("an agreement can have at most %d files", maxDocumentsPerAgreement))
		}
		if err := conn.Create(&doc).Error; err != nil {
			return err
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "agreement.document", "agreement", agreementID,
			map[string]any{"document_id": doc.ID, "file_name": doc.FileName, "size": size, "sha256": sum})
	})
	if err != nil {
		d.files.Remove(key)
		return Document{}, err
	}
	return doc, nil
}

// Open returns a document and its file, if a sees the agreement's pair.
func (d *Documents) Open(ctx context.Context, a auth.Actor, id int64) (Document, *os.File, error) {
	var doc Document
	err := d.pairs.db.Conn(ctx).First(&doc, id).Error
	if database.IsNotFound(err) {
		return doc, nil, errs.NotFound("document")
	}
	if err != nil {
		return doc, nil, err
	}
	if _, err := d.pairs.Agreement(ctx, a, doc.AgreementID); err != nil {
		if errs.Is(err, errs.KindNotFound) {
			return doc, nil, errs.NotFound("document")
		}
		return doc, nil, err
	}
	f, err := d.files.Open(doc.StorageKey)
	return doc, f, err
}

// OfPair lists the documents of every agreement of a pair (the pair page),
// by agreement: one query.
func (d *Documents) OfPair(ctx context.Context, a auth.Actor, pairID int64) (map[int64][]Document, error) {
	if _, err := d.pairs.Pair(ctx, a, pairID); err != nil {
		return nil, err
	}
	var docs []Document
	if err := d.pairs.db.Conn(ctx).Where("agreement_id IN (SELECT id FROM agreements WHERE pair_id = ?)", pairID).
		Order("agreement_id, id").Find(&docs).Error; err != nil {
		return nil, err
	}
	out := map[int64][]Document{}
	for _, doc := range docs {
		out[doc.AgreementID] = append(out[doc.AgreementID], doc)
	}
	return out, nil
}
