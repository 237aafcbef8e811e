package view

import (
	"regexp"
	"strings"

	"github.com/twinning-platform/twinning/internal/errs"
)

// fieldMessages map the services' English field messages to catalogue
// ids; the first submatch groups fill the named placeholders. Messages not
// listed are shown as the service wrote them.
var fieldMessages = []struct {
	re    *regexp.Regexp
	id    string
	names []string
}{
	{regexp.MustCompile(`^is required`), "err.required", nil},
	{regexp.MustCompile(`^must not be in the future \(today is (\d{4}-\d{2}-\d{2})\)`), "err.future_date", []string{"Today"}},
	{regexp.MustCompile(`^must lie within the pair's span \((?:from )?(\S+)(?: to (\S+))?\)`), "err.outside_span", []string{"From", "To"}},
	{regexp.MustCompile(`^unknown category`), "err.unknown_category", nil},
	{regexp.MustCompile(`^must be at most (\d+) characters`), "err.max_chars", []string{"N"}},
	{regexp.MustCompile(`^must be at least (\d+) characters`), "err.min_chars", []string{"N"}},
	{regexp.MustCompile(`^must be exactly (\d+) characters`), "err.exact_chars", []string{"N"}},
	{regexp.MustCompile(`^must not be negative`), "err.not_negative", nil},
	{regexp.MustCompile(`^must have at most two decimals`), "err.two_decimals", nil},
	{regexp.MustCompile(`^must be between (\d+) and (\d+)`), "err.between", []string{"Min", "Max"}},
	{regexp.MustCompile(`^must be at most (\d+) MiB`), "err.file_size", []string{"N"}},
	{regexp.MustCompile(`^must be at most ([\d.]+)$`), "err.at_most", []string{"N"}},
	{regexp.MustCompile(`^must be at least ([\d.]+)$`), "err.at_least", []string{"N"}},
	{regexp.MustCompile(`^must be greater than ([\d.]+)`), "err.greater_than", []string{"N"}},
	{regexp.MustCompile(`^must be a whole number`), "err.whole_number", nil},
	{regexp.MustCompile(`^must be an email address`), "err.email", nil},
	{regexp.MustCompile(`^must be 10 digits|^must contain digits only`), "err.code_digits", nil},
	{regexp.MustCompile(`^must be an image`), "err.file_type", nil},
	{regexp.MustCompile(`^must not be before the pair starts \((\S+)\)`), "err.before_pair", []string{"What"}},
	{regexp.MustCompile(`^must not be before`), "err.not_before", nil},
	{regexp.MustCompile(`^must not be after the pair ends \((\S+)\)`), "err.after_pair", []string{"What"}},
	{regexp.MustCompile(`^a school cannot be paired with itself`), "err.self_pair", nil},
	{regexp.MustCompile(`already have (?:an|another) active pair`), "err.duplicate_pair", nil},
	{regexp.MustCompile(`^a user with this email already exists`), "err.duplicate_email", nil},
	{regexp.MustCompile(`^overlaps`), "err.overlap", nil},
	{regexp.MustCompile(`^term \S+ already exists`), "err.duplicate_term", nil},
	{regexp.MustCompile(`^another school has this code`), "err.duplicate_code", nil},
	{regexp.MustCompile(`^no such (school|region)`), "err.no_such", nil},
	{regexp.MustCompile(`^an activity can have at most (\d+) files`), "err.too_many_files", []string{"N"}},
	// staged uploads (issue 10)
	{regexp.MustCompile(`^a file is no longer waiting to be attached`), "err.upload_gone", nil},
	{regexp.MustCompile(`^at most (\d+) files may wait to be attached`), "err.too_many_staged", []string{"N"}},
	{regexp.MustCompile(`^must be a date`), "err.date", nil},
	{regexp.MustCompile(`^must be a number`), "err.number", nil},
	{regexp.MustCompile(`^must look like \d{4}-\d{4}`), "err.school_year", nil},
	{regexp.MustCompile(`^the activity is \w+, not|^the activity was decided meanwhile|evidence can only be added`), "err.wrong_status", nil},
	{regexp.MustCompile(`^a confirmed activity cannot be changed`), "err.immutable", nil},
	{regexp.MustCompile(`activities can only be logged on an active pair`), "err.pair_not_active", nil},
	{regexp.MustCompile(`^must lie between occurred_on and today`), "err.logged_on", nil},
	{regexp.MustCompile(`^the new span would leave`), "err.span_excludes", nil},
	// accounts (issue 8)
	{regexp.MustCompile(`^is too easy to guess`), "err.pw_weak", nil},
	{regexp.MustCompile(`^is a commonly used password`), "err.pw_common", nil},
	{regexp.MustCompile(`^must not be only spaces`), "err.pw_spaces", nil},
	{regexp.MustCompile(`^is not your current password`), "err.pw_current", nil},
	{regexp.MustCompile(`^must differ from the current password`), "err.pw_same", nil},
	{regexp.MustCompile(`^this link (?:is not valid|has already been used|has expired)`), "err.link_invalid", nil},
	{regexp.MustCompile(`^must be an 11-digit mainland mobile number`), "err.mobile", nil},
	{regexp.MustCompile(`^a user with this mobile number already exists|cannot be used for a new account`), "err.unavailable", nil},
	{regexp.MustCompile(`^must be (?:one of|a|an) |^must be [a-z_]+(?:, [a-z_]+)* or [a-z_]+$`), "err.choose", nil},
}

// FieldMessage translates one field message of a service.
func (r *Renderer) FieldMessage(locale, msg string) string {
	for _, m := range fieldMessages {
		sub := m.re.FindStringSubmatch(msg)
		if sub == nil {
			continue
		}
		var data map[string]any
		if len(m.names) > 0 {
			data = map[string]any{}
			for i, n := range m.names {
				if i+1 < len(sub) {
					data[n] = sub[i+1]
				}
			}
		}
		out := r.cat.T(locale, m.id, data)
		if m.id == "err.outside_span" && (data["To"] == "" || data["To"] == nil) {
			out = r.cat.T(locale, "err.outside_span_open", data)
		}
		return out
	}
	return msg
}

// codeMessages are the catalogue ids of error codes without a field.
var codeMessages = map[string]string{
	"forbidden":              "err.forbidden",
	"not_found":              "err.not_found",
	"unauthorized":           "err.unauthorized",
	"validation_failed":      "err.validation",
	"malformed_request":      "err.validation",
	"wrong_status":           "err.wrong_status",
	"immutable":              "err.immutable",
	"pair_not_active":        "err.pair_not_active",
	"duplicate_email":        "err.duplicate_email",
	"duplicate_pair":         "err.duplicate_pair",
	"duplicate_term":         "err.duplicate_term",
	"duplicate_code":         "err.duplicate_code",
	"overlapping_term":       "err.overlap",
	"overlapping_agreement":  "err.overlap",
	"too_many_files":         "err.too_many_files",
	"too_large":              "err.too_large",
	"csrf_failed":            "err.csrf",
	"span_excludes_records":  "err.span_excludes",
	"idempotency_key_reused": "err.validation",
	"timeout":                "err.timeout",
	"not_failed":             "err.not_failed",
}

// CodeMessage is the message of an error code, if the catalogue has one.
func (r *Renderer) CodeMessage(locale, code string) (string, bool) {
	id, ok := codeMessages[code]
	if !ok {
		return "", false
	}
	return r.cat.T(locale, id, nil), true
}

// ErrorMessage is the whole-form message of a domain error.
func (r *Renderer) ErrorMessage(locale string, e *errs.Error) string {
	if id, ok := codeMessages[e.Code]; ok {
		return r.cat.T(locale, id, nil)
	}
	return r.cat.T(locale, "err.generic", nil)
}

// ApplyError puts a domain error onto a form: each field message next to
// its field (fields maps the service's field names to the form's; a
// field not on the form goes to the top), and a summary at the top. It
// reports false for errors that are not about the input (not found,
// forbidden, internal), which the caller shows as an error page.
func (r *Renderer) ApplyError(locale string, f *Form, err error, fields map[string]string) bool {
	e, ok := errs.As(err)
	if !ok {
		return false
	}
	switch e.Kind {
	case errs.KindInvalid, errs.KindMalformed, errs.KindConflict, errs.KindTooLarge:
	default:
		return false
	}
	var loose []string
	for field, msg := range e.Fields {
		name := field
		if fields != nil {
			if n, ok := fields[field]; ok {
				name = n
			} else {
				name = ""
			}
		}
		text := r.FieldMessage(locale, msg)
		if name == "" {
			loose = append(loose, text)
			continue
		}
		if _, taken := f.Errors[name]; !taken {
			f.Errors[name] = text
		}
	}
	if f.Error == "" {
		f.Error = r.ErrorMessage(locale, e)
		if len(e.Fields) > 0 {
			f.Error = r.cat.T(locale, "err.validation", nil)
		}
	}
	if len(loose) > 0 {
		f.Error += " " + strings.Join(loose, " ")
	}
	return true
}
