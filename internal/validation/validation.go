// Package validation checks the shape of inputs (required, lengths, formats)
// from struct tags and reports failures by their JSON field names, so a
// client is told exactly which field to fix. Domain rules that need the
// database (overlaps, scopes) stay in the services.
package validation

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/patch"
)

// Validator wraps go-playground/validator with JSON field names.
type Validator struct{ v *validator.Validate }

// New builds a Validator.
func New() *Validator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		if name == "" {
			name, _, _ = strings.Cut(f.Tag.Get("query"), ",")
		}
		return name
	})
	// merge-patch members are validated by the value they carry (nil when
	// absent or null): tags on them start with omitempty
	v.RegisterCustomTypeFunc(patch.ValidationValue, patch.Field[string]{}, patch.Field[int64]{}, patch.Field[int]{},
		patch.Field[bool]{}, patch.Field[float64]{}, patch.Field[date.Date]{}, patch.Field[decimal.D]{}, patch.Field[[]string]{})
	return &Validator{v: v}
}

// Validate returns nil or an *errs.Error naming every failing field.
func (val *Validator) Validate(s any) error {
	err := val.v.Struct(s)
	if err == nil {
		return nil
	}
	var ve validator.ValidationErrors
	if !errors.As(err, &ve) {
		return err
	}
	f := errs.Fields{}
	for _, fe := range ve {
		f.Add(fieldPath(fe), message(fe))
	}
	return f.Err()
}

// fieldPath turns "Input.commitments[0].minimum" into "commitments[0].minimum".
func fieldPath(fe validator.FieldError) string {
	ns := fe.Namespace()
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return rest
	}
	return fe.Field()
}

func message(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required", "required_without":
		return "is required"
	case "max":
		if fe.Kind() == reflect.String {
			return fmt.Sprintf("must be at most %s characters", fe.Param())
		}
		if fe.Kind() == reflect.Slice {
			return fmt.Sprintf("must have at most %s entries", fe.Param())
		}
		return "must be at most " + fe.Param()
	case "min":
		if fe.Kind() == reflect.String {
			return fmt.Sprintf("must be at least %s characters", fe.Param())
		}
		if fe.Kind() == reflect.Slice {
			return fmt.Sprintf("must have at least %s entries", fe.Param())
		}
		return "must be at least " + fe.Param()
	case "gt":
		return "must be greater than " + fe.Param()
	case "gte":
		return "must be at least " + fe.Param()
	case "email":
		return "must be an email address"
	case "oneof":
		return "must be one of " + strings.ReplaceAll(fe.Param(), " ", ", ")
	case "numeric":
		return "must contain digits only"
	case "len":
		return fmt.Sprintf("must be exactly %s characters", fe.Param())
	}
	return "is invalid (" + fe.Tag() + ")"
}
