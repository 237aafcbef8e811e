// Package category holds the activity category codes. Labels are not here:
// they come from the i18n catalogue, in the reader's language.
package category

// Codes in display order.
var codes = [...]string{
	"visit", "management_exchange", "demonstration_lesson", "lecture",
	"teacher_training", "mentoring", "teaching_support", "secondment",
	"shadow_learning", "student_exchange", "campus_culture",
	"resource_sharing", "donation", "other",
}

// All returns the codes in display order.
func All() []string { return append([]string(nil), codes[:]...) }

// Valid reports whether c is a known code.
func Valid(c string) bool {
	for _, k := range codes {
		if k == c {
			return true
		}
	}
	return false
}
