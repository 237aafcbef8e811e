package web

import (
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/xlsx"
)

// exportColumns are the columns of both exports, as i18n message ids.
var exportColumns = []string{
	"export.region", "export.supporting", "export.supported", "export.pair", "export.round",
	"export.commitment_id", "export.commitment", "export.description", "export.period", "export.period_key",
	"export.period_start", "export.period_end", "export.required", "export.achieved", "export.pending",
	"export.status", "export.days_left",
}

// exportRows reads the same view as GET /api/v1/compliance (at, region_id,
// term, status) for the whole scope: one row per pair × commitment ×
// period. Exports are for admins and bureaus. The rows stream: start gets
// the header once the query is known to be valid, then row gets each row
// as its batch of pairs is graded, so memory holds one batch, never the
// province.
func (s *Server) exportRows(c echo.Context, start func(at date.Date, header []any) error, row func([]any) error) error {
	a := actor(c)
	if !a.IsAdmin() && !a.IsBureau() {
		return errs.Forbidden("exports are for admins and bureaus")
	}
	at, err := queryDate(c, "at")
	if err != nil {
		return err
	}
	if at.IsZero() {
		at = s.today()
	}
	region, err := queryInt(c, "region_id")
	if err != nil {
		return err
	}
	p := s.Views.NewPage(a.Locale)
	values := make([]any, len(exportColumns))
	return s.Compliance.Each(c.Request().Context(), a, compliance.Query{
		At: at, RegionID: region, Term: c.QueryParam("term"), Status: compliance.Status(c.QueryParam("status"))},
		func() error {
			header := make([]any, len(exportColumns))
			for i, id := range exportColumns {
				header[i] = p.T(id)
			}
			return start(at, header)
		},
		func(reports []compliance.PairReport) error {
			for _, r := range reports {
				for _, it := range r.Items {
					values = append(values[:0],
						r.Region.Name, r.SupportingSchool.Name, r.SupportedSchool.Name, r.PairID, r.Round,
						it.CommitmentID, p.Commitment(it.Categories, it.Measure, it.Minimum, it.Period), it.Description,
						p.Term(it.PeriodKey), it.PeriodKey, it.PeriodStart.String(), it.PeriodEnd.String(),
						it.Required, it.Achieved, it.Pending, p.Status(it.Status), it.DaysLeft)
					if err := row(values); err != nil {
						return err
					}
				}
			}
			return nil
		})
}

func attachment(c echo.Context, name, ctype string) {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, ctype)
	h.Set(echo.HeaderContentDisposition, "attachment; filename=\""+name+"\"; filename*=UTF-8''"+url.PathEscape(name))
	h.Set("Cache-Control", "private, no-store")
}

// exportXLSX answers an Excel workbook: a bold, frozen header row, then
// the rows. Like the CSV it streams: the workbook goes out as the pairs
// are graded (internal/xlsx), so a province's hundreds of thousands of
// rows never sit in memory, and the download starts at once. An error
// after the first row (the database gone mid-way) ends the response
// early; the truncated file then does not open, as a cut CSV is short.
func (s *Server) exportXLSX(c echo.Context) error {
	var w *xlsx.Writer
	start := func(at date.Date, header []any) error {
		attachment(c, fmt.Sprintf("compliance-%s.xlsx", at), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		c.Response().WriteHeader(http.StatusOK)
		var err error
		w, err = xlsx.New(c.Response(), xlsx.Options{Sheet: "compliance", FreezeHeader: true,
			Widths: []float64{14, 26, 26, 8, 10, 12, 44, 30, 16, 18, 12, 12, 10, 10, 10, 12, 10}})
		if err != nil {
			return err
		}
		return w.Header(header)
	}
	values := make([]any, len(exportColumns))
	row := func(r []any) error {
		for j, v := range r {
			// a quantity is a number cell of its exact digits ("2.25"),
			// which is what the sheet then holds
			if d, ok := v.(decimal.D); ok {
				v = xlsx.Number(d.String())
			}
			values[j] = v
		}
		return w.Row(values)
	}
	if err := s.exportRows(c, start, row); err != nil {
		return err
	}
	return w.Close()
}

// exportCSV answers the same rows as CSV, UTF-8 with a byte-order mark so
// that Excel opens Chinese text correctly.
func (s *Server) exportCSV(c echo.Context) error {
	var w *csv.Writer
	record := make([]string, len(exportColumns))
	write := func(row []any) error {
		for i, v := range row {
			if str, ok := v.(string); ok {
				record[i] = csvText(str)
			} else {
				record[i] = fmt.Sprint(v) // numbers: a spreadsheet reads "-3" as minus three, not a formula
			}
		}
		return w.Write(record)
	}
	start := func(at date.Date, header []any) error {
		attachment(c, fmt.Sprintf("compliance-%s.csv", at), "text/csv; charset=utf-8")
		c.Response().WriteHeader(http.StatusOK)
		if _, err := io.WriteString(c.Response(), "\uFEFF"); err != nil {
			return err
		}
		w = csv.NewWriter(c.Response())
		return write(header)
	}
	if err := s.exportRows(c, start, write); err != nil {
		return err
	}
	w.Flush()
	return w.Error()
}

// csvText defuses spreadsheet formulas (CSV injection): a text cell that
// begins with =, +, -, @, tab or CR is written with a leading apostrophe,
// which Excel and LibreOffice show as plain text. (The XLSX export writes
// typed string cells, which are never formulas.)
func csvText(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
