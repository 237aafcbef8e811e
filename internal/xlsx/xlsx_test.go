package xlsx_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/twinning-platform/twinning/internal/xlsx"
)

// TestReadBackByExcelize writes a sheet and reads it with excelize, the
// library the rest of the project reads workbooks with: values and their
// types, the header style, the frozen pane, the widths, the text XML
// cannot carry raw, columns past Z.
func TestReadBackByExcelize(t *testing.T) {
	var out bytes.Buffer
	w, err := xlsx.New(&out, xlsx.Options{Sheet: "compliance", Widths: []float64{14, 26.5}, FreezeHeader: true})
	if err != nil {
		t.Fatal(err)
	}
	wide := make([]any, 30)
	for i := range wide {
		wide[i] = i
	}
	rows := [][]any{
		{"支援学校", "a < b & c > d", " leading and trailing ", "bell\x07 and tab\t"},
		{int64(42), xlsx.Number("2.25"), 3.5, nil, "=1+1", math.NaN(), int32(-7), struct{ A int }{1}},
		wide,
	}
	if err := w.Header(rows[0]); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows[1:] {
		if err := w.Row(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Row([]any{"late"}); err == nil {
		t.Fatal("a row after Close was accepted")
	}

	f, err := excelize.OpenReader(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatalf("excelize cannot open it: %v", err)
	}
	defer f.Close()
	if got := f.GetSheetList(); len(got) != 1 || got[0] != "compliance" {
		t.Fatalf("sheets %v", got)
	}
	got, err := f.GetRows("compliance", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"支援学校", "a < b & c > d", " leading and trailing ", "bell\uFFFD and tab\t"},
		{"42", "2.25", "3.5", "", "=1+1", "NaN", "-7", "{1}"},
	}
	for i, w := range want {
		if strings.Join(got[i], "|") != strings.Join(w, "|") {
			t.Errorf("row %d: got %q, want %q", i+1, got[i], w)
		}
	}
	if len(got[2]) != 30 || got[2][29] != "29" {
		t.Errorf("wide row: %q", got[2])
	}
	if v, _ := f.GetCellValue("compliance", "AD3"); v != "29" {
		t.Errorf("AD3 = %q", v)
	}
	for cell, typ := range map[string]excelize.CellType{"A2": excelize.CellTypeNumber, "B2": excelize.CellTypeNumber,
		"C2": excelize.CellTypeNumber, "E2": excelize.CellTypeInlineString, "A1": excelize.CellTypeInlineString} {
		if got, err := f.GetCellType("compliance", cell); err != nil || got != typ {
			t.Errorf("%s: type %v (%v), want %v", cell, got, err, typ)
		}
	}
	if f, _ := f.GetCellFormula("compliance", "E2"); f != "" {
		t.Errorf("a text starting with = became the formula %q", f)
	}
	id, err := f.GetCellStyle("compliance", "B1")
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.GetStyle(id)
	// (excelize reports a fill's colour only for a workbook with a theme)
	if err != nil || st.Font == nil || !st.Font.Bold || st.Fill.Type != "pattern" || st.Fill.Pattern != 1 {
		t.Errorf("header style %+v (%v)", st, err)
	}
	if styles := part(t, out.Bytes(), "xl/styles.xml"); !strings.Contains(styles, `<fgColor rgb="FFE4E7EB"/>`) {
		t.Errorf("no header fill colour in %s", styles)
	}
	if id, _ := f.GetCellStyle("compliance", "A2"); id != 0 {
		t.Errorf("a body cell has style %d", id)
	}
	panes, err := f.GetPanes("compliance")
	if err != nil || !panes.Freeze || panes.YSplit != 1 || panes.TopLeftCell != "A2" {
		t.Errorf("panes %+v (%v)", panes, err)
	}
	if w, _ := f.GetColWidth("compliance", "B"); w != 26.5 {
		t.Errorf("width of B: %v", w)
	}
}

func part(t *testing.T, file []byte, name string) string {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := z.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRefusesBadSheetNames(t *testing.T) {
	for _, name := range []string{"a/b", "what?", strings.Repeat("表", 32)} {
		if _, err := xlsx.New(io.Discard, xlsx.Options{Sheet: name}); err == nil {
			t.Errorf("sheet name %q accepted", name)
		}
	}
}

// Past Excel's grid the writer stops with an error instead of writing a
// sheet Excel refuses.
func TestRefusesMoreThanTheGrid(t *testing.T) {
	w, err := xlsx.New(io.Discard, xlsx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Row(make([]any, xlsx.MaxColumns+1)); err == nil {
		t.Fatal("a row wider than 16,384 columns was accepted")
	}
	w, _ = xlsx.New(io.Discard, xlsx.Options{})
	row := []any{1}
	for i := 0; i < xlsx.MaxRows; i++ {
		if err := w.Row(row); err != nil {
			t.Fatalf("row %d: %v", i+1, err)
		}
	}
	if err := w.Row(row); err == nil {
		t.Fatal("row 1,048,577 was accepted")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after the error reported success")
	}
}

// A failing destination (a client that went away) ends the export with
// the error, not a panic or a hang.
func TestWriteErrorStops(t *testing.T) {
	w, err := xlsx.New(&failAfter{n: 4 << 10}, xlsx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	row := []any{strings.Repeat("x", 1000), 1, 2, 3}
	for i := 0; i < 100_000; i++ {
		if err = w.Row(row); err != nil {
			break
		}
	}
	if err == nil {
		err = w.Close()
	}
	if !errors.Is(err, errGone) {
		t.Fatalf("got %v, want the writer's error", err)
	}
}

var errGone = errors.New("client gone")

type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errGone
	}
	return len(p), nil
}

// BenchmarkRows: a province export's shape (17 columns, text and
// numbers). Bytes per op stay flat with the rows: nothing accumulates.
//
//	go test ./internal/xlsx -run x -bench Rows -benchmem
func BenchmarkRows(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("%d_rows", n), func(b *testing.B) {
			row := []any{"武汉市", "武汉市第六中学", "武汉市第六中学附属小学", int64(12345), "第一轮", int64(678),
				"管理交流 每学期至少 2 次", "", "2025–2026 学年秋季学期", "2025-2026-autumn", "2025-09-01", "2026-01-31",
				xlsx.Number("2"), xlsx.Number("1.5"), xlsx.Number("0"), "未达标", int64(-3)}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				w, _ := xlsx.New(io.Discard, xlsx.Options{Sheet: "compliance", FreezeHeader: true})
				for j := 0; j < n; j++ {
					if err := w.Row(row); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
