package importer

import (
	"io"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/twinning-platform/twinning/internal/errs"
)

// Annotate writes the uploaded workbook back with an added 错误 column on
// every sheet that has mistakes, holding each bad row's messages, so the
// bureau fixes the file it knows instead of a list. A column left by an
// earlier annotation is reused and cleared.
func Annotate(r io.Reader, rows []RowError, lang string, out io.Writer) error {
	f, err := excelize.OpenReader(r)
	if err != nil {
		return errs.Malformed("file", "the file is not an Excel workbook (.xlsx)")
	}
	defer f.Close()
	if lang != LangEN {
		lang = LangZH
	}
	style, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Color: "C00000"}, Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}})
	if err != nil {
		return err
	}
	head, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Color: "C00000"}})
	if err != nil {
		return err
	}
	bySheet := map[string]map[int][]string{}
	for _, e := range rows {
		if bySheet[e.Sheet] == nil {
			bySheet[e.Sheet] = map[int][]string{}
		}
		m := e.Message
		if e.Column != "" {
			m = e.Column + ": " + m
		}
		bySheet[e.Sheet][e.Row] = append(bySheet[e.Sheet][e.Row], m)
	}
	for _, name := range f.GetSheetList() {
		msgs := bySheet[name]
		// the header's width, and an earlier 错误 column, from the first row
		it, err := f.Rows(name)
		if err != nil {
			return err
		}
		col, last, total := 0, 0, 0
		for it.Next() {
			total++
			if total > 1 {
				continue
			}
			cells, err := it.Columns()
			if err != nil {
				_ = it.Close()
				return err
			}
			for i, h := range cells {
				if strings.TrimSpace(h) != "" {
					last = i + 1
				}
				if norm(h) == norm(errorHeader(LangZH)) || norm(h) == norm(errorHeader(LangEN)) {
					col = i + 1
				}
			}
		}
		_ = it.Close()
		if msgs == nil && col == 0 {
			continue
		}
		if col == 0 {
			col = last + 1
		}
		name := name
		cell := func(row int) string {
			c, _ := excelize.CoordinatesToCellName(col, row)
			return c
		}
		for r := 2; r <= total; r++ { // clear an earlier annotation
			if _, ok := msgs[r]; !ok {
				if v, _ := f.GetCellValue(name, cell(r)); v != "" {
					if err := f.SetCellValue(name, cell(r), nil); err != nil {
						return err
					}
				}
			}
		}
		header := errorHeader(lang)
		if m, ok := msgs[1]; ok {
			header += ": " + strings.Join(m, "; ")
		}
		if err := f.SetCellValue(name, cell(1), header); err != nil {
			return err
		}
		if err := f.SetCellStyle(name, cell(1), cell(1), head); err != nil {
			return err
		}
		colName, _ := excelize.ColumnNumberToName(col)
		if err := f.SetColWidth(name, colName, colName, 60); err != nil {
			return err
		}
		for r, m := range msgs {
			if r < 2 {
				continue
			}
			if err := f.SetCellValue(name, cell(r), strings.Join(m, "\n")); err != nil {
				return err
			}
			if err := f.SetCellStyle(name, cell(r), cell(r), style); err != nil {
				return err
			}
		}
	}
	_, err = f.WriteTo(out)
	return err
}
