package decimal

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseAndString(t *testing.T) {
	for in, want := range map[string]string{"2": "2", "2.2": "2.2", "2.20": "2.2", "0.05": "0.05", "-1.5": "-1.5", "1.500": "1.5", "007": "7", ".5": "0.5"} {
		d, err := Parse(in)
		if err != nil || d.String() != want {
			t.Errorf("Parse(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, bad := range []string{"", "1.234", "abc", "1e3", "1.", "-", "1,5", "99999999999999"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestSumIsExact(t *testing.T) {
	a, _ := Parse("0.3")
	b, _ := Parse("1.9")
	m, _ := Parse("2.2")
	if a+b != m || a+b < m {
		t.Fatalf("0.3 + 1.9 = %v, want exactly 2.2", a+b)
	}
	if 0.3+1.9 >= 2.2 {
		t.Log("float64 happens to agree here") // documents why the type exists
	}
}

func TestJSON(t *testing.T) {
	var v struct{ H D }
	if err := json.Unmarshal([]byte(`{"H": 2.25}`), &v); err != nil || v.H != 225 {
		t.Fatalf("got %v %v", v.H, err)
	}
	if err := json.Unmarshal([]byte(`{"H": 2.255}`), &v); err == nil {
		t.Fatal("third decimal place accepted")
	}
	for _, bad := range []string{`{"H": "2.2"}`, `{"H": true}`, `{"H": [1]}`} {
		var te *json.UnmarshalTypeError
		if err := json.Unmarshal([]byte(bad), &v); !errors.As(err, &te) || te.Field != "H" {
			t.Errorf("%s: %v, want a type error naming H", bad, err)
		}
	}
	b, _ := json.Marshal(struct{ H D }{D(220)})
	if string(b) != `{"H":2.2}` {
		t.Fatalf("marshal: %s", b)
	}
}

func TestScan(t *testing.T) {
	var d D
	for src, want := range map[any]D{2.2: 220, int64(3): 300, "4.35": 435, 2.1999999999999997: 220} {
		if err := d.Scan(src); err != nil || d != want {
			t.Errorf("Scan(%v) = %v, %v; want %v", src, d, err, want)
		}
	}
	if err := d.Scan([]byte("10.50")); err != nil || d != 1050 {
		t.Errorf("Scan bytes: %v %v", d, err)
	}
}

func TestMulFrac(t *testing.T) {
	// ceil(10 × 45 / 153) class-hours in hundredths: 2.95 → 2.95 (exact division to the hundredth, rounded up)
	if got := FromInt(10).MulFrac(45, 153, true); got != 295 {
		t.Fatalf("ceil: %v", got)
	}
	if got := FromInt(1).MulFrac(168, 365, false); got != 46 {
		t.Fatalf("floor: %v", got)
	}
	if got := D(295).CeilUnit(); got != 300 {
		t.Fatalf("CeilUnit: %v", got)
	}
	if got := D(46).FloorUnit(); got != 0 {
		t.Fatalf("FloorUnit: %v", got)
	}
}
