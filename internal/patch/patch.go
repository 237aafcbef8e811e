// Package patch decodes JSON merge patches (RFC 7396): a field absent from
// the body leaves the stored value as it is, a field sent as null clears an
// optional value, and a field with a value sets it. Go's *T cannot tell the
// first two apart (both leave it nil), so every PATCH body is a struct of
// Field values instead.
package patch

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// Field is one member of a merge patch: absent (Set false), null (Set and
// Null), or a value.
type Field[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON is called only for members present in the body (null
// included, as encoding/json promises for Unmarshalers).
func (f *Field[T]) UnmarshalJSON(b []byte) error {
	f.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		f.Null = true
		var zero T
		f.Value = zero
		return nil
	}
	f.Null = false
	return json.Unmarshal(b, &f.Value)
}

// MarshalJSON writes the value, or null when absent or null (for audit
// details; omitempty does not apply to structs, so absent members show as
// null there).
func (f Field[T]) MarshalJSON() ([]byte, error) {
	if !f.Set || f.Null {
		return []byte("null"), nil
	}
	return json.Marshal(f.Value)
}

// Of is a present field holding v (for callers that build patches, e.g.
// page handlers and tests).
func Of[T any](v T) Field[T] { return Field[T]{Set: true, Value: v} }

// Null is a present null field.
func Null[T any]() Field[T] { return Field[T]{Set: true, Null: true} }

// HasValue reports whether the field was sent with a non-null value.
func (f Field[T]) HasValue() bool { return f.Set && !f.Null }

// Apply stores the value into *dst when one was sent; a null stores zero
// (the "cleared" value of a required-in-Go field, e.g. "" or a zero date).
func (f Field[T]) Apply(dst *T) {
	if f.Set {
		*dst = f.Value
	}
}

// ApplyPtr stores into an optional *T: a value sets it, null clears it.
func (f Field[T]) ApplyPtr(dst **T) {
	switch {
	case !f.Set:
	case f.Null:
		*dst = nil
	default:
		v := f.Value
		*dst = &v
	}
}

// Validation: validator's struct tags see, through ValidationValue, the
// value of a present non-null field and nil otherwise, so `omitempty,max=200`
// checks only what was sent and `required` refuses a null.

// validationValuer is implemented by every Field instantiation.
type validationValuer interface{ validationValue() any }

func (f Field[T]) validationValue() any {
	if !f.Set || f.Null {
		return nil
	}
	return f.Value
}

// ValidationValue is the custom type function for go-playground/validator:
// it returns the value a Field holds (nil when absent or null), and nil for
// anything else.
func ValidationValue(v reflect.Value) any {
	if fv, ok := v.Interface().(validationValuer); ok {
		return fv.validationValue()
	}
	return nil
}
