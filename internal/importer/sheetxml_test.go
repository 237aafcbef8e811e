package importer

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// The fast reader reads what excelize reads, for workbooks written the
// ways the import meets them: the template and exports (stream writer,
// inline strings, dates), cell-by-cell files (shared strings), rich text
// and phonetic guides, gaps, formulas and entities.
func TestFastReaderAgreesWithExcelize(t *testing.T) {
	var books []([]byte)
	for _, lang := range []string{LangZH, LangEN} {
		var buf bytes.Buffer
		if err := Template(&buf, lang); err != nil {
			t.Fatal(err)
		}
		books = append(books, buf.Bytes())
	}
	f := excelize.NewFile()
	_ = f.SetSheetName("Sheet1", "学校")
	for i, v := range []any{"学校名称", "学校代码", "所属地区", "学段", "联系邮箱"} {
		cell, _ := excelize.CoordinatesToCellName(i+1, 1)
		_ = f.SetCellValue("学校", cell, v)
	}
	_ = f.SetCellValue("学校", "A2", "A & B <中学>")
	_ = f.SetCellValue("学校", "B2", 4211810001)
	_ = f.SetCellRichText("学校", "C2", []excelize.RichTextRun{{Text: "麻城"}, {Text: "市", Font: &excelize.Font{Bold: true}}})
	_ = f.SetCellValue("学校", "D2", "初中")
	_ = f.SetCellFormula("学校", "E2", `LOWER("A@B.CN")`)
	_ = f.SetCellValue("学校", "A5", "after a gap")
	_ = f.SetCellValue("学校", "D5", time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC))
	_ = f.SetCellValue("学校", "C5", 10.5)
	_ = f.SetCellValue("学校", "E5", true)
	_, _ = f.NewSheet("Pairs")
	_ = f.SetSheetRow("Pairs", "A1", &[]any{"Supporting school", "Supported school", "Start date"})
	_ = f.SetSheetRow("Pairs", "A2", &[]any{"x", "y", "  2025-09-01  "})
	var buf bytes.Buffer
	_, _ = f.WriteTo(&buf)
	books = append(books, buf.Bytes())

	for i, raw := range books {
		fast, err := readBookFast(raw, LangZH)
		if err != nil {
			t.Fatalf("book %d: the fast reader failed: %v", i, err)
		}
		slow, err := readBookExcelize(raw, LangZH)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(dump(fast), dump(slow)) {
			t.Errorf("book %d:\nfast  %v\nexcel %v", i, dump(fast), dump(slow))
		}
	}
	got := dump(must(readBookFast(books[2], LangZH)))
	if want := "学校 [{2 [A & B <中学> 4211810001 麻城市 初中 ]} {5 [after a gap  10.5 45901 1]}]"; got["schools"] != want {
		t.Errorf("学校 read as %s", got["schools"])
	}
}

func must(b *book, err error) *book {
	if err != nil {
		panic(err)
	}
	return b
}

func dump(b *book) map[string]string {
	out := map[string]string{}
	for k, s := range b.sheets {
		out[k] = fmt.Sprint(s.name, " ", s.rows)
	}
	out["errs"] = fmt.Sprint(b.errs)
	return out
}
