package importer

import (
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
)

// row is one data row of a sheet: its number as Excel shows it and its
// cells in the order of the sheet's columns (sheetDef.cols).
type row struct {
	n     int
	cells []string
}

func (r row) get(i int) string { return r.cells[i] }

// parsedSheet is one sheet as read from the upload.
type parsedSheet struct {
	def     *sheetDef
	name    string   // as in the file
	colName []string // each column's header as in the file (or the canonical one when missing)
	rows    []row
}

// book is an uploaded workbook.
type book struct {
	sheets map[string]*parsedSheet // by sheet key; absent sheets are empty ones
	errs   []RowError
}

func (b *book) sheet(key string) *parsedSheet {
	if s, ok := b.sheets[key]; ok {
		return s
	}
	def := sheetByKey(key)
	s := &parsedSheet{def: def, name: def.zh}
	for _, c := range def.cols {
		s.colName = append(s.colName, c.zh)
	}
	return s
}

func norm(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// readBook reads every known sheet of an .xlsx: sheets and columns are
// found by their name in either language, unknown sheets (说明) and
// columns (错误) are ignored, blank rows skipped. Cells are read raw, so
// a date is its serial number and a code keeps its digits.
func readBook(r io.Reader, lang string) (*book, error) {
	f, err := excelize.OpenReader(r, excelize.Options{RawCellValue: true})
	if err != nil {
		return nil, errs.Malformed("file", "the file is not an Excel workbook (.xlsx)")
	}
	defer f.Close()
	b := &book{sheets: map[string]*parsedSheet{}}
	for _, name := range f.GetSheetList() {
		var def *sheetDef
		for _, d := range sheets {
			if norm(name) == norm(d.zh) || norm(name) == norm(d.en) {
				def = d
			}
		}
		if def == nil || b.sheets[def.key] != nil {
			continue
		}
		s := &parsedSheet{def: def, name: name, colName: make([]string, len(def.cols))}
		if err := readSheet(f, s, b, lang); err != nil {
			return nil, err
		}
		b.sheets[def.key] = s
	}
	return b, nil
}

func readSheet(f *excelize.File, s *parsedSheet, b *book, lang string) error {
	rows, err := f.Rows(s.name)
	if err != nil {
		return errs.Malformed("file", "the sheet "+s.name+" cannot be read")
	}
	defer rows.Close()
	pos := make([]int, len(s.def.cols)) // column index in the file per sheet column, -1 absent
	n := 0
	for rows.Next() {
		n++
		cells, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return errs.Malformed("file", "the sheet "+s.name+" cannot be read")
		}
		if n == 1 {
			for i, c := range s.def.cols {
				pos[i] = -1
				s.colName[i] = c.name(lang)
				for j, h := range cells {
					if norm(h) == norm(c.zh) || norm(h) == norm(c.en) {
						pos[i], s.colName[i] = j, strings.TrimSpace(h)
						break
					}
				}
				if pos[i] < 0 && c.required {
					b.errs = append(b.errs, RowError{Sheet: s.name, Row: 1, Column: s.colName[i],
						Message: msg{"the column is missing from the header row", "表头中缺少此列"}.in(lang)})
				}
			}
			continue
		}
		r := row{n: n, cells: make([]string, len(s.def.cols))}
		blank := true
		for i, p := range pos {
			if p >= 0 && p < len(cells) {
				r.cells[i] = strings.TrimSpace(cells[p])
				if r.cells[i] != "" {
					blank = false
				}
			}
		}
		if !blank {
			s.rows = append(s.rows, r)
		}
	}
	if n == 0 {
		for i, c := range s.def.cols {
			s.colName[i] = c.name(lang)
		}
	}
	return rows.Error()
}

// parseDate reads an Excel date (its serial number, as read raw) or
// YYYY-MM-DD text (also YYYY/M/D). ok is false for anything else.
func parseDate(v string) (date.Date, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return date.Date{}, true
	}
	if d, err := date.Parse(v); err == nil {
		return d, true
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 1 && f < 2958466 && f == math.Trunc(f) {
		t, err := excelize.ExcelDateToTime(f, false)
		if err == nil {
			return date.New(t.Year(), t.Month(), t.Day()), true
		}
	}
	for _, layout := range []string{"2006/1/2", "2006.1.2", "2006-1-2"} {
		if t, err := time.Parse(layout, v); err == nil {
			return date.New(t.Year(), t.Month(), t.Day()), true
		}
	}
	return date.Date{}, false
}
