// Package decimal holds the exact two-place quantities of the domain:
// class-hours, minimums, required / achieved / pending amounts. A value is
// an integer number of hundredths, so 0.3 + 1.9 is exactly 2.2 and a
// comparison with a minimum never depends on binary floating point.
package decimal

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// D is a quantity in hundredths: D(220) is 2.20.
type D int64

// Scale is the number of hundredths in one unit.
const Scale = 100

// ErrPrecision is returned for a value with more than two decimal places.
var ErrPrecision = errors.New("at most two decimal places")

// ErrRange is returned for a value too large to be a quantity.
var ErrRange = errors.New("out of range")

// max is well inside both int64 and a float64's exact integers, so
// conversions through float64 (the SQLite driver, JSON numbers) stay exact.
const max = 1_000_000_000_000 // 10^10 units

// FromInt is n whole units.
func FromInt(n int64) D { return D(n * Scale) }

// FromHundredths is n hundredths.
func FromHundredths(n int64) D { return D(n) }

// Parse reads a decimal written in base 10 ("2", "2.2", "-0.05"), refusing
// more than two decimal places, exponents and anything else.
func Parse(s string) (D, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty number")
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if hasDot && frac == "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%q is not a number", s)
		}
	}
	// trailing zeros beyond two places are not precision: 1.500 is 1.50
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 2 {
		return 0, ErrPrecision
	}
	for len(frac) < 2 {
		frac += "0"
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 12 {
		return 0, ErrRange
	}
	var w int64
	if whole != "" {
		var err error
		if w, err = strconv.ParseInt(whole, 10, 64); err != nil {
			return 0, ErrRange
		}
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	v := w*Scale + f
	if v > max {
		return 0, ErrRange
	}
	if neg {
		v = -v
	}
	return D(v), nil
}

// FromFloat converts a float that is meant to carry at most two decimal
// places (a JSON number, a spreadsheet cell, a SQLite REAL). It refuses a
// value that is not within rounding noise of a hundredth.
func FromFloat(f float64) (D, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > max/Scale {
		return 0, ErrRange
	}
	h := math.Round(f * Scale)
	if math.Abs(f*Scale-h) > 1e-6*math.Max(1, math.Abs(h)) {
		return 0, ErrPrecision
	}
	return D(h), nil
}

// Hundredths is the integer number of hundredths.
func (d D) Hundredths() int64 { return int64(d) }

// IsWhole reports a value without a fractional part.
func (d D) IsWhole() bool { return d%Scale == 0 }

// Float is for display arithmetic only (percentages, chart data); never
// compare or sum quantities through it.
func (d D) Float() float64 { return float64(d) / Scale }

// String writes the shortest exact form: "2", "2.2", "2.25", "-0.05".
func (d D) String() string {
	v := int64(d)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	w, f := v/Scale, v%Scale
	switch {
	case f == 0:
		return sign + strconv.FormatInt(w, 10)
	case f%10 == 0:
		return fmt.Sprintf("%s%d.%d", sign, w, f/10)
	default:
		return fmt.Sprintf("%s%d.%02d", sign, w, f)
	}
}

// Fixed writes two decimal places, as a DECIMAL(…,2) column holds it.
func (d D) Fixed() string {
	v := int64(d)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/Scale, v%Scale)
}

// MulFrac is ceil(d × num / den) in hundredths when ceil is true, else
// floor: the prorated "required" of a partly covered period and the
// "expected by now" of the at-risk rule, computed on integers.
func (d D) MulFrac(num, den int64, ceil bool) D {
	if den <= 0 {
		return d
	}
	p := int64(d) * num
	q, r := p/den, p%den
	if r != 0 && ceil == (p > 0) {
		if ceil {
			q++
		} else {
			q--
		}
	}
	return D(q)
}

// CeilUnit rounds up to a whole unit (a prorated count of visits is a whole
// number of visits).
func (d D) CeilUnit() D {
	v := int64(d)
	q := v / Scale
	if v%Scale != 0 && v > 0 {
		q++
	}
	return D(q * Scale)
}

// FloorUnit rounds down to a whole unit.
func (d D) FloorUnit() D {
	v := int64(d)
	q := v / Scale
	if v%Scale != 0 && v < 0 {
		q--
	}
	return D(q * Scale)
}

// MarshalJSON writes a JSON number with at most two places: 2.2, not
// 2.1999999999999997.
func (d D) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalJSON reads a JSON number exactly from its text, refusing a
// third decimal place. Anything but a number (a string, true, an object)
// is a *json.UnmarshalTypeError, which encoding/json completes with the
// field's path, as for any other mistyped field.
func (d *D) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if s != "" {
		kind := ""
		switch s[0] {
		case '"':
			kind = "string"
		case 't', 'f':
			kind = "bool"
		case '{':
			kind = "object"
		case '[':
			kind = "array"
		}
		if kind != "" {
			return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[D]()}
		}
	}
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v, err := FromFloat(f)
		if err != nil {
			return err
		}
		*d = v
		return nil
	}
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Value stores the value as DECIMAL text ("2.20"): exact on MySQL; on
// SQLite the NUMERIC column keeps it as a REAL, read back by Scan with
// rounding to the hundredth, exact for every value within range.
func (d D) Value() (driver.Value, error) { return d.Fixed(), nil }

// Scan reads DECIMAL text (MySQL), REAL or INTEGER (SQLite).
func (d *D) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d = 0
		return nil
	case int64:
		*d = FromInt(v)
		return nil
	case float64:
		x, err := FromFloat(v)
		if errors.Is(err, ErrPrecision) {
			// a SUM over REALs may carry noise beyond the hundredth
			x, err = D(math.Round(v*Scale)), nil
		}
		*d = x
		return err
	case []byte:
		return d.scanText(string(v))
	case string:
		return d.scanText(v)
	default:
		return fmt.Errorf("decimal: cannot scan %T", src)
	}
}

func (d *D) scanText(s string) error {
	v, err := Parse(s)
	if err == nil {
		*d = v
		return nil
	}
	// MySQL sums of DECIMAL(…,2) keep two places; anything longer came
	// through a float: round it
	f, ferr := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if ferr != nil {
		return fmt.Errorf("decimal: %w", err)
	}
	*d = D(math.Round(f * Scale))
	return nil
}
