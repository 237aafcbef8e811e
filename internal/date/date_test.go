package date

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseAndFormat(t *testing.T) {
	d, err := Parse("2024-02-29")
	if err != nil || d.String() != "2024-02-29" {
		t.Fatalf("Parse leap day: %v %v", d, err)
	}
	for _, bad := range []string{"2023-02-29", "2026-13-01", "26-01-01", "2026/01/01", "", "0202-09-01", "9999-12-31"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestOfUsesTheProgrammeZone(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	// 2026-01-31 20:00 UTC is already 1 February in Shanghai
	utc := time.Date(2026, 1, 31, 20, 0, 0, 0, time.UTC)
	if got := Of(utc, sh).String(); got != "2026-02-01" {
		t.Fatalf("Of = %s, want 2026-02-01", got)
	}
	if got := Of(utc, time.UTC).String(); got != "2026-01-31" {
		t.Fatalf("Of UTC = %s", got)
	}
}

func TestArithmetic(t *testing.T) {
	d := MustParse("2026-01-31")
	if d.AddDays(1).String() != "2026-02-01" || d.LastOfMonth().String() != "2026-01-31" || MustParse("2028-02-10").LastOfMonth().String() != "2028-02-29" {
		t.Fatal("AddDays/LastOfMonth wrong")
	}
	if MustParse("2026-02-15").DaysUntil(MustParse("2026-08-31")) != 197 {
		t.Fatal("DaysUntil wrong")
	}
	if !MustParse("2026-01-01").Before(MustParse("2026-01-02")) || Max(d, MustParse("2025-01-01")) != d {
		t.Fatal("comparison wrong")
	}
}

func TestJSONAndSQL(t *testing.T) {
	var v struct {
		A Date `json:"a"`
		B Date `json:"b"`
		C Date `json:"c"`
	}
	if err := json.Unmarshal([]byte(`{"a":"2026-09-01","b":null,"c":""}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A.String() != "2026-09-01" || !v.B.IsZero() || !v.C.IsZero() {
		t.Fatalf("decoded %+v", v)
	}
	out, _ := json.Marshal(v)
	if string(out) != `{"a":"2026-09-01","b":null,"c":null}` {
		t.Fatalf("encoded %s", out)
	}
	if err := json.Unmarshal([]byte(`{"a":"2026-9-1"}`), &v); err == nil {
		t.Fatal("accepted a non-padded date")
	}
	var s Date
	for _, src := range []any{"2026-09-01", []byte("2026-09-01"), time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), "2026-09-01 00:00:00"} {
		if err := s.Scan(src); err != nil || s.String() != "2026-09-01" {
			t.Errorf("Scan(%T %v) = %v, %v", src, src, s, err)
		}
	}
	if val, _ := (Date{}).Value(); val != nil {
		t.Errorf("zero date stored as %v, want NULL", val)
	}
}
