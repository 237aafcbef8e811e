package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/importer"
)

// The onboarding workbook (internal/importer): template, import (dry run
// or real), the annotated copy of a workbook with mistakes, and the export
// of the caller's scope. The page (page_import.go) calls the same.

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// importFailedBody is the 422 answer of a workbook with mistakes: the
// usual error shape with every row's mistake.
type importFailedBody struct {
	Error importFailedDetail `json:"error"`
}

type importFailedDetail struct {
	Code      string              `json:"code"`
	Message   string              `json:"message"`
	Rows      []importer.RowError `json:"rows"`
	RequestID string              `json:"request_id,omitempty"`
}

func workbookLang(a auth.Actor, c echo.Context) string {
	if l := c.QueryParam("lang"); l == importer.LangEN || l == importer.LangZH {
		return l
	}
	if a.Locale == auth.LocaleEN {
		return importer.LangEN
	}
	return importer.LangZH
}

// uploadedWorkbook reads the multipart "file" (the route's body limit
// applies; beyond it 413).
func uploadedWorkbook(c echo.Context) ([]byte, error) {
	fh, err := c.FormFile("file")
	if err != nil {
		var mbe *http.MaxBytesError
		var he *echo.HTTPError
		if errors.As(err, &mbe) || (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) {
			return nil, errs.TooLarge("file", "the workbook is too large")
		}
		return nil, errs.Malformed("file", "send the workbook as the multipart field \"file\"")
	}
	f, err := fh.Open()
	if err != nil {
		return nil, errs.Malformed("file", "the upload cannot be read")
	}
	defer f.Close()
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil, errs.Malformed("file", "the upload cannot be read")
	}
	if len(raw) == 0 {
		return nil, errs.Malformed("file", "the file is empty")
	}
	return raw, nil
}

// localRows puts the domain validators' English messages into the
// caller's language (the importer's own are already in it).
func (s *Server) localRows(lang string, rows []importer.RowError) []importer.RowError {
	if lang == importer.LangEN || s.Views == nil {
		return rows
	}
	for i := range rows {
		rows[i].Message = s.Views.FieldMessage(lang, rows[i].Message)
	}
	return rows
}

func parseDryRun(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "0", "off", "no":
		return false, nil
	case "true", "1", "on", "yes":
		return true, nil
	}
	return false, errs.Malformed("dry_run", "must be true or false")
}

// importContext outlives the request timeout (a province's workbook takes
// longer) but not the import's own.
func (s *Server) importContext(c echo.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(c.Request().Context()), s.ImportTimeout)
}

func (s *Server) importTemplate(c echo.Context) error {
	a := actor(c)
	if err := requireManager(a); err != nil {
		return err
	}
	var buf bytes.Buffer
	lang := workbookLang(a, c)
	if err := importer.Template(&buf, lang); err != nil {
		return err
	}
	name := "导入模板.xlsx"
	if lang == importer.LangEN {
		name = "import-template.xlsx"
	}
	attachment(c, name, xlsxType)
	return c.Blob(http.StatusOK, xlsxType, buf.Bytes())
}

func (s *Server) importWorkbook(c echo.Context) error {
	a := actor(c)
	if err := requireManager(a); err != nil {
		return err
	}
	dry, err := parseDryRun(c.FormValue("dry_run"))
	if err != nil {
		return err
	}
	raw, err := uploadedWorkbook(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.importContext(c)
	defer cancel()
	lang := workbookLang(a, c)
	res, err := s.Importer.Import(ctx, a, bytes.NewReader(raw), lang, dry)
	var failed *importer.Failed
	if errors.As(err, &failed) {
		return c.JSON(http.StatusUnprocessableEntity, importFailedBody{Error: importFailedDetail{Code: "import_failed",
			Message: failed.Message(lang), Rows: s.localRows(lang, failed.Rows), RequestID: c.Response().Header().Get(echo.HeaderXRequestID)}})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// importAnnotated answers the uploaded workbook with a 错误 column beside
// every bad row (unchanged when it has no mistakes).
func (s *Server) importAnnotated(c echo.Context) error {
	a := actor(c)
	if err := requireManager(a); err != nil {
		return err
	}
	raw, err := uploadedWorkbook(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.importContext(c)
	defer cancel()
	lang := workbookLang(a, c)
	rows, err := s.Importer.Check(ctx, a, bytes.NewReader(raw), lang)
	if err != nil {
		return err
	}
	rows = s.localRows(lang, rows)
	var buf bytes.Buffer
	if err := importer.Annotate(bytes.NewReader(raw), rows, lang, &buf); err != nil {
		return err
	}
	name := "导入检查结果.xlsx"
	if lang == importer.LangEN {
		name = "import-checked.xlsx"
	}
	attachment(c, name, xlsxType)
	return c.Blob(http.StatusOK, xlsxType, buf.Bytes())
}

func (s *Server) exportWorkbook(c echo.Context) error {
	a := actor(c)
	if err := requireManager(a); err != nil {
		return err
	}
	ctx, cancel := s.importContext(c)
	defer cancel()
	var buf bytes.Buffer
	lang := workbookLang(a, c)
	if err := s.Importer.Export(ctx, a, lang, &buf); err != nil {
		return err
	}
	name := "结对帮扶数据-" + s.today().String() + ".xlsx"
	if lang == importer.LangEN {
		name = "twinning-" + s.today().String() + ".xlsx"
	}
	attachment(c, name, xlsxType)
	return c.Blob(http.StatusOK, xlsxType, buf.Bytes())
}
