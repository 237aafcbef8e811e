package importer

import (
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"

	"github.com/twinning-platform/twinning/internal/date"
)

// writer writes the workbook sheet by sheet through excelize's stream
// writer (an export is tens of thousands of rows), with a bold frozen
// header, dropdowns on the enumerated columns and the 说明 sheet.
type writer struct {
	f      *excelize.File
	lang   string
	header int
	date   int
	text   int
}

func newWriter(lang string) (*writer, error) {
	if lang != LangEN {
		lang = LangZH
	}
	f := excelize.NewFile()
	w := &writer{f: f, lang: lang}
	var err error
	if w.header, err = f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}}}); err != nil {
		return nil, err
	}
	fmtDate := "yyyy-mm-dd"
	if w.date, err = f.NewStyle(&excelize.Style{CustomNumFmt: &fmtDate}); err != nil {
		return nil, err
	}
	if w.text, err = f.NewStyle(&excelize.Style{NumFmt: 49}); err != nil { // "@": codes and phones stay text
		return nil, err
	}
	return w, nil
}

// rowSource yields the data rows of a sheet; emit returns the writer's
// error, which the source should pass back.
type rowSource func(emit func(cells []any) error) error

// dateCell is a date written as an Excel date.
type dateCell date.Date

func (w *writer) sheet(def *sheetDef, first bool, src rowSource) error {
	name := def.name(w.lang)
	if first {
		if err := w.f.SetSheetName("Sheet1", name); err != nil {
			return err
		}
	} else if _, err := w.f.NewSheet(name); err != nil {
		return err
	}
	for i, c := range def.cols {
		col, _ := excelize.ColumnNumberToName(i + 1)
		e := enumOf(def.key, c.key)
		if e == nil {
			continue
		}
		dv := excelize.NewDataValidation(true)
		dv.Sqref = fmt.Sprintf("%s2:%s1048576", col, col)
		if err := dv.SetDropList(e.labels(w.lang)); err != nil {
			return err
		}
		dv.SetError(excelize.DataValidationErrorStyleStop, "", c.helpFor(w.lang))
		if err := w.f.AddDataValidation(name, dv); err != nil {
			return err
		}
	}
	sw, err := w.f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	for i, c := range def.cols {
		width := 16.0
		switch c.key {
		case "name", "title", "supporting", "supported", "school", "region", "parent", "description", "categories":
			width = 28
		case "email":
			width = 26
		}
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	head := make([]any, len(def.cols))
	for i, c := range def.cols {
		head[i] = excelize.Cell{StyleID: w.header, Value: c.name(w.lang)}
	}
	if err := sw.SetRow("A1", head); err != nil {
		return err
	}
	n := 1
	err = src(func(cells []any) error {
		n++
		out := make([]any, len(cells))
		for i, v := range cells {
			switch t := v.(type) {
			case dateCell:
				if date.Date(t).IsZero() {
					out[i] = nil
				} else {
					out[i] = excelize.Cell{StyleID: w.date, Value: date.Date(t).Time()}
				}
			case textCell:
				out[i] = excelize.Cell{StyleID: w.text, Value: string(t)}
			default:
				out[i] = v
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, n)
		return sw.SetRow(cell, out)
	})
	if err != nil {
		return err
	}
	return sw.Flush()
}

// textCell is a value kept as text (codes, phones).
type textCell string

func (c column) helpFor(lang string) string {
	if lang == LangEN {
		return c.helpEN
	}
	return c.helpZH
}

// explanation writes the 说明 sheet: every sheet's columns with what they
// take, and the rules of the import.
func (w *writer) explanation() error {
	name := explanationName(w.lang)
	if _, err := w.f.NewSheet(name); err != nil {
		return err
	}
	sw, err := w.f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	_ = sw.SetColWidth(1, 1, 14)
	_ = sw.SetColWidth(2, 2, 18)
	_ = sw.SetColWidth(3, 3, 12)
	_ = sw.SetColWidth(4, 4, 100)
	t := func(en, zh string) string { return msg{en, zh}.in(w.lang) }
	rows := [][]any{
		{t("How to use this workbook", "使用说明")},
		{t("Fill the sheets below (a sheet may stay empty) and upload the workbook on the import page. Every row is checked first; if any row is wrong nothing is imported and every mistake is listed with its sheet, row and column. Importing the same workbook again changes nothing; a changed row updates its record.",
			"填写以下各表（可留空），在导入页面上传。系统先逐行检查；任何一行有误都不会导入，并列出每处错误所在的表、行和列。同一工作簿再次导入不会重复创建；修改过的行会更新对应记录。")},
		{t("Records are found by: a region by its name under its parent; a school by its code, else by its name within its region; a user by email; a pair by its two schools (the active pair); an agreement by its title within its pair.",
			"识别规则：地区按上级地区下的名称；学校按学校代码，无代码时按所属地区内的学校名称；用户按邮箱；结对按两所学校（进行中的结对）；协议按结对内的协议名称。")},
		{t("Sheet and column names and the values of lists may be written in Chinese or English (e.g. 课时 or hours).",
			"表名、列名和下拉选项可用中文或英文（如 课时 或 hours）。")},
		{},
		{excelize.Cell{StyleID: w.header, Value: t("Sheet", "表")}, excelize.Cell{StyleID: w.header, Value: t("Column", "列")},
			excelize.Cell{StyleID: w.header, Value: t("Required", "必填")}, excelize.Cell{StyleID: w.header, Value: t("What it takes", "填写说明")}},
	}
	for _, s := range sheets {
		for _, c := range s.cols {
			req := ""
			if c.required {
				req = t("yes", "是")
			}
			rows = append(rows, []any{s.name(w.lang), c.name(w.lang), req, c.helpFor(w.lang)})
		}
	}
	rows = append(rows, []any{}, []any{t("Categories", "活动类别"), "", "", categoryList(w.lang)})
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := sw.SetRow(cell, r); err != nil {
			return err
		}
	}
	return sw.Flush()
}

func (w *writer) finish(out io.Writer) error {
	defer w.f.Close()
	if err := w.explanation(); err != nil {
		return err
	}
	// the first sheet is the active one already; SetActiveSheet would read
	// every streamed sheet back into memory
	_, err := w.f.WriteTo(out)
	return err
}

// Template writes the empty workbook with one example row per sheet.
func Template(out io.Writer, lang string) error {
	w, err := newWriter(lang)
	if err != nil {
		return err
	}
	l := func(e enum, code string) string { return e.label(code, w.lang) }
	d := func(s string) dateCell { return dateCell(date.MustParse(s)) }
	examples := map[string][][]any{
		shRegions: {
			{"湖北省", l(levels, "province"), ""},
			{"黄冈市", l(levels, "city"), "湖北省"},
			{"麻城市", l(levels, "county"), "黄冈市"},
		},
		shSchools: {
			{"麻城市第一中学", textCell("4211810001"), "麻城市", l(stageEnum, "senior"), "mc1z@example.cn"},
			{"麻城市第五中学", textCell("4211810005"), "麻城市", l(stageEnum, "junior"), "mc5z@example.cn"},
		},
		shUsers: {
			{"张老师", "zhang@example.cn", textCell("13800000000"), l(roleEnum, "coordinator"), "4211810001", ""},
			{"李校长", "li@example.cn", nil, l(roleEnum, "principal"), "麻城市第五中学", ""},
		},
		shPairs: {
			{"4211810001", "麻城市第五中学", d("2025-09-01"), nil, "第一轮"},
		},
		shAgreements: {
			{"4211810001", "麻城市第五中学", "2025—2026 学年帮扶协议", d("2025-08-20"), d("2025-09-01"), d("2026-08-31"),
				categoryEnum.label("management_exchange", w.lang) + map[bool]string{true: ", ", false: "、"}[w.lang == LangEN] + categoryEnum.label("visit", w.lang),
				l(measureEnum, "count"), 2, l(periodEnum, "term"), t(w.lang, "at least two management exchanges or visits per term", "每学期至少两次管理交流或实地指导")},
		},
	}
	for i, s := range sheets {
		rows := examples[s.key]
		if err := w.sheet(s, i == 0, func(emit func([]any) error) error {
			for _, r := range rows {
				if err := emit(r); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return w.finish(out)
}

func t(lang, en, zh string) string { return msg{en, zh}.in(lang) }
