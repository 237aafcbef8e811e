package importer

import (
	"bytes"
	"fmt"
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
	rows   int // data rows read, all sheets
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
// a date is its serial number and a code keeps its digits. The fast
// reader (sheetxml.go) reads what it understands; anything else is read
// by excelize.
func readBook(raw []byte, lang string) (*book, error) {
	b, err := readBookFast(raw, lang)
	switch {
	case err == nil:
		return b, nil
	case err == errTooManyRows:
		return nil, err
	}
	return readBookExcelize(raw, lang)
}

func readBookFast(raw []byte, lang string) (*book, error) {
	x, err := openXLSX(raw)
	if err != nil {
		return nil, err
	}
	b := &book{sheets: map[string]*parsedSheet{}}
	for _, sh := range x.sheets {
		s := b.claim(sh.name)
		if s == nil {
			continue
		}
		if err := fillSheet(s, b, lang, func(fn func(n int, cells []string) error) error { return x.rows(sh.file, fn) }); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func readBookExcelize(raw []byte, lang string) (*book, error) {
	f, err := excelize.OpenReader(bytes.NewReader(raw), excelize.Options{RawCellValue: true, UnzipSizeLimit: 1 << 30})
	if err != nil {
		return nil, errs.Malformed("file", "the file is not an Excel workbook (.xlsx)")
	}
	defer f.Close()
	b := &book{sheets: map[string]*parsedSheet{}}
	for _, name := range f.GetSheetList() {
		s := b.claim(name)
		if s == nil {
			continue
		}
		err := fillSheet(s, b, lang, func(fn func(n int, cells []string) error) error {
			rows, err := f.Rows(name)
			if err != nil {
				return err
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				n++
				cells, err := rows.Columns(excelize.Options{RawCellValue: true})
				if err != nil {
					return err
				}
				if err := fn(n, cells); err != nil {
					return err
				}
			}
			return rows.Error()
		})
		if err == errTooManyRows {
			return nil, err
		}
		if err != nil {
			return nil, errs.Malformed("file", "the sheet "+name+" cannot be read")
		}
	}
	return b, nil
}

// claim returns a new parsedSheet when name is one of the workbook's
// sheets (in either language) not seen yet.
func (b *book) claim(name string) *parsedSheet {
	for _, d := range sheets {
		if norm(name) == norm(d.zh) || norm(name) == norm(d.en) {
			if b.sheets[d.key] != nil {
				return nil
			}
			s := &parsedSheet{def: d, name: name, colName: make([]string, len(d.cols))}
			b.sheets[d.key] = s
			return s
		}
	}
	return nil
}

// maxRows bounds the data rows of one workbook: a province is under
// 120,000; a file claiming millions is refused before it fills the memory.
const maxRows = 1_000_000

var errTooManyRows = errs.TooLarge("file", fmt.Sprintf("the workbook has more than %d rows", maxRows))

// fillSheet reads a sheet's rows from src: the first row is the header.
func fillSheet(s *parsedSheet, b *book, lang string, src func(fn func(n int, cells []string) error) error) error {
	pos := make([]int, len(s.def.cols)) // column index in the file per sheet column, -1 absent
	header := false
	s.rows = s.rows[:0]
	var headerErrs []RowError
	err := src(func(n int, cells []string) error {
		if !header {
			header = true
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
					headerErrs = append(headerErrs, RowError{Sheet: s.name, Row: n, Column: s.colName[i],
						Message: msg{"the column is missing from the header row", "表头中缺少此列"}.in(lang)})
				}
			}
			return nil
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
			if b.rows++; b.rows > maxRows {
				return errTooManyRows
			}
			s.rows = append(s.rows, r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !header {
		for i, c := range s.def.cols {
			s.colName[i] = c.name(lang)
		}
	}
	b.errs = append(b.errs, headerErrs...)
	return nil
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
