package web

import (
	"fmt"
	"mime/multipart"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/pairing"
)

// Record lifecycles: regions renamed and moved, terms corrected and
// deleted, agreements corrected, commitments added and retired, signed
// agreements attached, evidence removed.

func (s *Server) updateRegion(c echo.Context) error    { return update(c, s.Schools.UpdateRegion) }
func (s *Server) updateTerm(c echo.Context) error      { return update(c, s.Terms.UpdateTerm) }
func (s *Server) updateAgreement(c echo.Context) error { return update(c, s.Pairs.UpdateAgreement) }
func (s *Server) updateCommitment(c echo.Context) error {
	return update(c, s.Pairs.UpdateCommitment)
}

func (s *Server) getTerm(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	t, err := s.Terms.Term(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

func (s *Server) deleteTerm(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.Terms.DeleteTerm(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) getAgreement(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ag, err := s.Pairs.Agreement(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ag)
}

func (s *Server) addCommitment(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in pairing.CommitmentInput
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := s.Pairs.AddCommitment(c.Request().Context(), actor(c), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// uploaded opens the multipart file of field "file", within the per-file
// limit, with the same errors as evidence uploads.
func (s *Server) uploaded(c echo.Context) (*multipart.FileHeader, multipart.File, error) {
	fh, err := c.FormFile("file")
	if err != nil {
		if he, ok := err.(*echo.HTTPError); ok && he.Code == http.StatusRequestEntityTooLarge {
			return nil, nil, err
		}
		if err == http.ErrMissingFile || err == http.ErrNotMultipart {
			return nil, nil, errs.Field("file", "send the file as multipart/form-data in a field named file")
		}
		return nil, nil, errs.Malformed("file", "could not read the upload: "+err.Error())
	}
	if fh.Size > s.EvidenceLimit {
		return nil, nil, errs.TooLarge("file", fmt.Sprintf("must be at most %d MiB", s.EvidenceLimit>>20))
	}
	f, err := fh.Open()
	return fh, f, err
}

func (s *Server) addDocument(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	fh, f, err := s.uploaded(c)
	if err != nil {
		return err
	}
	defer f.Close()
	doc, err := s.Documents.Attach(c.Request().Context(), actor(c), id, fh.Filename, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, doc)
}

func (s *Server) getDocument(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	doc, f, err := s.Documents.Open(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	defer f.Close()
	return serveStored(c, doc.ContentType, doc.FileName, "agreement", f)
}

func (s *Server) removeEvidence(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.Activities.RemoveEvidence(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
