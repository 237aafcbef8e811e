package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/seed"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestComplianceExports reads the CSV and XLSX exports of the demo
// programme as 麻城's bureau would, on 2026-02-15 (DESIGN §3's example).
func TestComplianceExports(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		a := testutil.NewApp(t, db, testutil.NewClock(testutil.At("2026-02-15")))
		p, err := seed.Demo()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := seed.Load(context.Background(), seed.Services{DB: a.DB, Auth: a.Auth, Schools: a.Schools, Terms: a.Terms, Pairs: a.Pairs, Activities: a.Activities}, p); err != nil {
			t.Fatal(err)
		}
		api := testutil.NewAPI(t, a)
		mc := api.Login("macheng@demo.local", "demo-bureau-2025")
		query := "?at=2026-02-15&term=2025-2026-autumn"

		r := api.Must(200, api.Do("GET", "/api/v1/compliance/export.csv"+query, mc, nil))
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") || !strings.Contains(r.Header.Get("Content-Disposition"), "compliance-2026-02-15.csv") {
			t.Fatalf("headers %v", r.Header)
		}
		if !bytes.HasPrefix(r.Body, []byte("\uFEFF")) {
			t.Fatal("CSV without a byte-order mark: Excel would garble the Chinese")
		}
		rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(r.Body, []byte("\uFEFF")))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if rows[0][0] != "地区" || rows[0][15] != "状态" {
			t.Fatalf("header %v", rows[0])
		}
		// 武汉六中—麻城五中 only; the autumn term view: 4 term commitments,
		// the school year of 2 more, no month commitments
		if len(rows) != 1+6 {
			t.Fatalf("%d data rows, want 6: %v", len(rows)-1, rows)
		}
		var found bool
		for _, row := range rows[1:] {
			if row[1] != "武汉市第六中学" || row[2] != "麻城市第五中学" || row[0] != "麻城市" {
				t.Fatalf("row of another pair or region: %v", row)
			}
			if row[9] == "2025-2026-autumn" && strings.Contains(row[6], "师徒结对") {
				found = true
				if row[12] != "2" || row[13] != "1" || row[14] != "1" || row[15] != "未达标" {
					t.Errorf("teacher development autumn 2025: %v", row)
				}
			}
		}
		if !found {
			t.Fatal("teacher development row missing")
		}

		x := api.Must(200, api.Do("GET", "/api/v1/compliance/export.xlsx"+query, mc, nil))
		f, err := excelize.OpenReader(bytes.NewReader(x.Body))
		if err != nil {
			t.Fatalf("not a workbook: %v", err)
		}
		sheet, err := f.GetRows("compliance")
		if err != nil {
			t.Fatal(err)
		}
		if len(sheet) != len(rows) || sheet[0][1] != "支援学校" {
			t.Fatalf("workbook has %d rows (csv %d), header %v", len(sheet), len(rows), sheet[0])
		}
		// the same cells as the CSV (whose text cells may carry the
		// apostrophe that defuses a formula), quantities as number cells
		if x.Header.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" ||
			!strings.Contains(x.Header.Get("Content-Disposition"), "compliance-2026-02-15.xlsx") {
			t.Fatalf("workbook headers %v", x.Header)
		}
		for i := range rows {
			for j := range rows[i] {
				if want := rows[i][j]; j >= len(sheet[i]) || (sheet[i][j] != want && "'"+sheet[i][j] != want) {
					t.Fatalf("workbook row %d differs from the CSV: %q, want %q", i+1, sheet[i], rows[i])
				}
			}
		}
		if typ, err := f.GetCellType("compliance", "M2"); err != nil || typ != excelize.CellTypeNumber {
			t.Errorf("required (M2) is a %v cell (%v), want a number", typ, err)
		}
		if panes, err := f.GetPanes("compliance"); err != nil || !panes.Freeze || panes.YSplit != 1 {
			t.Errorf("header row not frozen: %+v (%v)", panes, err)
		}

		// English for an English-speaking bureau; refused for school users
		coord := api.Login("wh6.coord@demo.local", "demo-school-2025")
		if r := api.Do("GET", "/api/v1/compliance/export.csv", coord, nil); r.Status != 403 {
			t.Fatalf("coordinator export: %d", r.Status)
		}
		if r := api.Do("GET", "/api/v1/compliance/export.csv?term=1999-2000-autumn", mc, nil); r.Status != 422 || r.Field("term") == "" {
			t.Fatalf("unknown term: %d %s", r.Status, r.Body)
		}
	})
}
