package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
)

// errorBody is the one JSON shape of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string            `json:"code"`
	Message   string            `json:"message"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

var kindStatus = map[errs.Kind]int{
	errs.KindInvalid:      http.StatusUnprocessableEntity,
	errs.KindMalformed:    http.StatusBadRequest,
	errs.KindUnauthorized: http.StatusUnauthorized,
	errs.KindForbidden:    http.StatusForbidden,
	errs.KindNotFound:     http.StatusNotFound,
	errs.KindConflict:     http.StatusConflict,
	errs.KindTooLarge:     http.StatusRequestEntityTooLarge,
}

// errorHandler maps domain errors to statuses. Anything unrecognised is a
// bug on our side: logged with the request id and answered 500 without
// details.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var th *auth.Throttled
	if errors.As(err, &th) {
		c.Response().Header().Set("Retry-After", strconv.Itoa(th.Seconds()))
	}
	status, body := s.classify(err)
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "1")
	}
	body.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	if status >= 500 {
		s.log.Error("request failed", "err", err, "method", c.Request().Method, "path", c.Path(), "request_id", body.RequestID)
	}
	if s.Views != nil && isPage(c) {
		s.pageError(c, status, body.Code)
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, errorBody{Error: body})
}

func (s *Server) classify(err error) (int, errorDetail) {
	var th *auth.Throttled
	if errors.As(err, &th) {
		return http.StatusTooManyRequests, errorDetail{Code: "too_many_attempts", Message: th.Error()}
	}
	if e, ok := errs.As(err); ok {
		return kindStatus[e.Kind], errorDetail{Code: e.Code, Message: e.Message, Fields: e.Fields}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if he.Internal != nil {
			if e, ok := errs.As(he.Internal); ok {
				return kindStatus[e.Kind], errorDetail{Code: e.Code, Message: e.Message, Fields: e.Fields}
			}
		}
		msg := fmt.Sprint(he.Message)
		switch he.Code {
		case http.StatusNotFound:
			return he.Code, errorDetail{Code: "not_found", Message: "no such route"}
		case http.StatusMethodNotAllowed:
			return he.Code, errorDetail{Code: "method_not_allowed", Message: "method not allowed on this route"}
		case http.StatusRequestEntityTooLarge:
			return he.Code, errorDetail{Code: "too_large", Message: "request body too large"}
		case http.StatusUnsupportedMediaType:
			return http.StatusBadRequest, errorDetail{Code: "malformed_request", Message: "Content-Type must be application/json"}
		case http.StatusServiceUnavailable:
			return he.Code, errorDetail{Code: "timeout", Message: "the request took too long; try again"}
		case http.StatusRequestTimeout: // uploads.go: the client stopped sending
			return he.Code, errorDetail{Code: "upload_stalled", Message: "the upload stalled: nothing arrived for too long; send the file again"}
		case http.StatusUnauthorized, http.StatusForbidden:
			return he.Code, errorDetail{Code: strings.ToLower(strings.ReplaceAll(http.StatusText(he.Code), " ", "_")), Message: msg}
		}
		if he.Code >= 400 && he.Code < 500 {
			return he.Code, errorDetail{Code: "bad_request", Message: msg}
		}
	}
	// cluster: a transaction that kept losing conflicts, a conflict of a
	// statement outside a transaction (a lock wait or causal read that timed
	// out on a node leaving the cluster), or a database node that cannot
	// serve now, is a 503 the client may retry (with its Idempotency-Key),
	// never a 500
	if database.Unavailable(err) || database.Conflict(err) {
		return http.StatusServiceUnavailable, errorDetail{Code: "unavailable", Message: "the database is busy or unavailable; try again"}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable, errorDetail{Code: "timeout", Message: "the request took too long; try again"}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, errorDetail{Code: "too_large", Message: "request body too large"}
	}
	return http.StatusInternalServerError, errorDetail{Code: "internal", Message: "internal error; it has been logged"}
}

// strictJSON decodes request bodies rejecting unknown fields and trailing
// data, and names the offending field in every error.
type strictJSON struct{ echo.DefaultJSONSerializer }

func (strictJSON) Deserialize(c echo.Context, v any) error {
	raw, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		var he *echo.HTTPError // Echo's BodyLimit, on a body sent without Content-Length
		if errors.As(err, &mbe) || (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) {
			return errs.TooLarge("", "request body too large")
		}
		return errs.Malformed("", "could not read the request body")
	}
	return decodeStrict(raw, v)
}

func decodeStrict(raw []byte, v any) error {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return errs.Malformed("", "a JSON body is required")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			return errs.Malformed("", "unexpected data after the JSON body")
		}
		return nil
	}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return errs.Malformed("", "the body must be a JSON object")
		}
		kind := te.Type.Kind().String()
		if te.Type == reflect.TypeFor[decimal.D]() {
			kind = "float64" // a quantity: any number of at most two decimals
		}
		return errs.Malformed(indexedPath(raw, field, te.Value), "must be "+jsonKind(kind))
	case errors.As(err, &se):
		return errs.Malformed("", fmt.Sprintf("malformed JSON at byte %d", se.Offset))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errs.Malformed(name, "is not a known field")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Malformed("", "truncated JSON body")
	}
	// A quantity with a third decimal place, or too large: a rule of the
	// value, not of the JSON, so 422 like the other validation errors.
	switch {
	case errors.Is(err, decimal.ErrPrecision):
		return errs.Field(fieldWithBadQuantity(raw), "must have at most two decimals")
	case errors.Is(err, decimal.ErrRange):
		return errs.Field(fieldWithBadQuantity(raw), "is out of range")
	}
	// An error from a field's own decoder (a bad date): find the field by
	// the offending value so the client still learns which one it was.
	return errs.Malformed(fieldWithBadDate(raw), err.Error())
}

// fieldWithBadQuantity walks the body for the first number that is not an
// exact quantity of at most two decimals (decimal.Parse refuses it for its
// precision or range) and returns its path ("commitments[1].minimum").
func fieldWithBadQuantity(raw []byte) string {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return ""
	}
	var walk func(path string, v any) string
	walk = func(path string, v any) string {
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys) // a stable answer when several are wrong
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if r := walk(p, t[k]); r != "" {
					return r
				}
			}
		case []any:
			for i, child := range t {
				if r := walk(fmt.Sprintf("%s[%d]", path, i), child); r != "" {
					return r
				}
			}
		case json.Number:
			var d decimal.D
			if err := d.UnmarshalJSON([]byte(t.String())); errors.Is(err, decimal.ErrPrecision) || errors.Is(err, decimal.ErrRange) {
				return path
			}
		}
		return ""
	}
	return walk("", doc)
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32", "uint", "uint64":
		return "a whole number"
	case "float64", "float32":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	}
	return "of another type (" + k + ")"
}

// indexedPath turns the decoder's path of a mistyped value
// ("commitments.minimum") into the path of that value with list indices
// ("commitments[1].minimum"), the form validation errors use, by finding
// the first value along that path of the JSON kind the decoder reported
// (got is e.g. "string" or "number 1.5").
func indexedPath(raw []byte, dotted, got string) string {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return dotted
	}
	kind, literal, _ := strings.Cut(got, " ")
	matches := func(v any) bool {
		switch t := v.(type) {
		case string:
			return kind == "string"
		case json.Number:
			return kind == "number" && (literal == "" || literal == t.String())
		case bool:
			return kind == "bool"
		case []any:
			return kind == "array"
		case map[string]any:
			return kind == "object"
		}
		return false
	}
	var walk func(prefix string, v any, rest []string) string
	walk = func(prefix string, v any, rest []string) string {
		if len(rest) == 0 && matches(v) {
			return prefix
		}
		switch t := v.(type) {
		case []any:
			for i, el := range t {
				if r := walk(fmt.Sprintf("%s[%d]", prefix, i), el, rest); r != "" {
					return r
				}
			}
		case map[string]any:
			if len(rest) == 0 {
				return ""
			}
			child, ok := t[rest[0]]
			if !ok { // encoding/json matches keys case-insensitively
				for k, c := range t {
					if strings.EqualFold(k, rest[0]) {
						child, ok = c, true
						break
					}
				}
			}
			if !ok {
				return ""
			}
			p := rest[0]
			if prefix != "" {
				p = prefix + "." + rest[0]
			}
			return walk(p, child, rest[1:])
		}
		return ""
	}
	if r := walk("", doc, strings.Split(dotted, ".")); r != "" {
		return r
	}
	return dotted
}

// fieldWithBadDate walks the body for a value that is not a valid date in
// a field whose name says it holds one (…_on, …_from, …_to, at).
func fieldWithBadDate(raw []byte) string {
	var doc any
	if json.Unmarshal(raw, &doc) != nil {
		return ""
	}
	var walk func(path string, v any) string
	walk = func(path string, v any) string {
		switch t := v.(type) {
		case map[string]any:
			for k, child := range t {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if r := walk(p, child); r != "" {
					return r
				}
			}
		case []any:
			for i, child := range t {
				if r := walk(fmt.Sprintf("%s[%d]", path, i), child); r != "" {
					return r
				}
			}
		default:
			if isDateField(path) && !validDateValue(v) {
				return path
			}
		}
		return ""
	}
	return walk("", doc)
}

func isDateField(path string) bool {
	name := path[strings.LastIndex(path, ".")+1:]
	return strings.HasSuffix(name, "_on") || strings.HasSuffix(name, "_from") || strings.HasSuffix(name, "_to") || name == "at"
}

func validDateValue(v any) bool {
	s, ok := v.(string)
	if v == nil {
		return true
	}
	if !ok {
		return false
	}
	if s == "" {
		return true
	}
	return len(s) == 10 && s[4] == '-' && s[7] == '-' && checkDate(s)
}

func checkDate(s string) bool {
	_, err := date.Parse(s)
	return err == nil
}
