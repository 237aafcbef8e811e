package web

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/importer"
	"github.com/twinning-platform/twinning/internal/view"
)

// The import page (admins and bureaus): download the template or the
// scope's workbook, upload one to check or import it, see every mistake in
// a table, and download the upload back annotated with them (the form's
// second button posts the same file to /admin/import/annotated.xlsx, so
// nothing is kept on the server between the two).

// pageErrorRows is how many mistakes the page lists; the annotated
// workbook carries all of them.
const pageErrorRows = 500

func (s *Server) importPage(c echo.Context) error {
	p, err := s.newPage(c, "import.title", "admin")
	if err != nil {
		return err
	}
	a, _ := pageActor(c)
	if err := requireManager(a); err != nil {
		return err
	}
	p.Form = view.NewForm()
	p.Data = map[string]any{"MaxBytes": s.ImportLimit, "DryRun": true}
	return s.render(c, http.StatusOK, "admin_import", p)
}

func (s *Server) importSubmit(c echo.Context) error {
	p, err := s.newPage(c, "import.title", "admin")
	if err != nil {
		return err
	}
	a, _ := pageActor(c)
	if err := requireManager(a); err != nil {
		return err
	}
	p.Form = view.NewForm()
	dry := c.FormValue("dry_run") == "true"
	d := map[string]any{"MaxBytes": s.ImportLimit, "DryRun": dry}
	p.Data = d
	raw, err := uploadedWorkbook(c)
	if err == nil {
		ctx, cancel := s.importContext(c)
		defer cancel()
		var res importer.Result
		res, err = s.Importer.Import(ctx, a, bytes.NewReader(raw), p.Locale, dry)
		if err == nil {
			d["Result"] = res
			return s.render(c, http.StatusOK, "admin_import", p)
		}
	}
	var failed *importer.Failed
	if errors.As(err, &failed) {
		rows := s.localRows(p.Locale, failed.Rows)
		if len(rows) > pageErrorRows {
			d["More"] = len(rows) - pageErrorRows
			rows = rows[:pageErrorRows]
		}
		d["Rows"], d["Message"] = rows, failed.Message(p.Locale)
		return s.render(c, http.StatusUnprocessableEntity, "admin_import", p)
	}
	if e, ok := errs.As(err); ok && (e.Kind == errs.KindMalformed || e.Kind == errs.KindTooLarge) {
		p.Form.Errors["file"] = p.T("import.bad_file")
		if e.Kind == errs.KindTooLarge {
			p.Form.Errors["file"] = p.T("import.too_large")
		}
		p.Form.Error = p.T("err.validation")
		return s.render(c, http.StatusUnprocessableEntity, "admin_import", p)
	}
	return err
}
