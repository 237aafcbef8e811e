// Package errs holds the domain errors every service returns. They say what
// went wrong in the domain's terms (invalid field, not found, conflict);
// internal/web alone turns them into HTTP statuses.
package errs

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Kind classifies an error for the caller.
type Kind int

const (
	KindInvalid      Kind = iota + 1 // the input breaks a rule (422)
	KindMalformed                    // the input cannot be read at all (400)
	KindUnauthorized                 // no or bad credentials (401)
	KindForbidden                    // the actor may not do this (403)
	KindNotFound                     // no such thing, or not visible to the actor (404)
	KindConflict                     // clashes with the current state (409)
	KindTooLarge                     // over a size limit (413)
)

// Error is a domain error with a stable code and per-field messages.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Fields  map[string]string
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e.Fields[k]
	}
	return e.Message + " (" + strings.Join(parts, "; ") + ")"
}

// As extracts an *Error.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Is reports whether err is a domain error of kind k.
func Is(err error, k Kind) bool {
	e, ok := As(err)
	return ok && e.Kind == k
}

// Field is a single-field validation error.
func Field(field, msg string) *Error {
	return &Error{Kind: KindInvalid, Code: "validation_failed", Message: "validation failed", Fields: map[string]string{field: msg}}
}

// NotFound says what was not found.
func NotFound(what string) *Error {
	return &Error{Kind: KindNotFound, Code: "not_found", Message: what + " not found"}
}

// Forbidden says why the actor may not.
func Forbidden(format string, args ...any) *Error {
	return &Error{Kind: KindForbidden, Code: "forbidden", Message: fmt.Sprintf(format, args...)}
}

// Unauthorized is a missing or bad credential.
func Unauthorized(msg string) *Error {
	return &Error{Kind: KindUnauthorized, Code: "unauthorized", Message: msg}
}

// Conflict with the current state; field may be empty.
func Conflict(code, field, msg string) *Error {
	e := &Error{Kind: KindConflict, Code: code, Message: msg}
	if field != "" {
		e.Fields = map[string]string{field: msg}
	}
	return e
}

// Malformed input that could not be parsed at all.
func Malformed(field, msg string) *Error {
	e := &Error{Kind: KindMalformed, Code: "malformed_request", Message: msg}
	if field != "" {
		e.Fields = map[string]string{field: msg}
	}
	return e
}

// TooLarge is an input over a size limit.
func TooLarge(field, msg string) *Error {
	e := &Error{Kind: KindTooLarge, Code: "too_large", Message: msg}
	if field != "" {
		e.Fields = map[string]string{field: msg}
	}
	return e
}

// Fields collects validation messages; the first message per field wins.
type Fields map[string]string

// Add records msg for field unless it already has one.
func (f Fields) Add(field, msg string) {
	if _, ok := f[field]; !ok {
		f[field] = msg
	}
}

// Err is nil when no field failed.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Kind: KindInvalid, Code: "validation_failed", Message: "validation failed", Fields: map[string]string(f)}
}
