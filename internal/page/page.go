// Package page holds limit/offset paging: every list is bounded.
package page

// Bounds of a page.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Page is a requested window of a list.
type Page struct {
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// Normalize applies the default and the cap.
func (p Page) Normalize() Page {
	if p.Limit <= 0 {
		p.Limit = DefaultLimit
	}
	if p.Limit > MaxLimit {
		p.Limit = MaxLimit
	}
	if p.Offset < 0 {
		p.Offset = 0
	}
	return p
}

// List is one page of results and the total count.
type List[T any] struct {
	Items  []T   `json:"items"`
	Limit  int   `json:"limit"`
	Offset int   `json:"offset"`
	Total  int64 `json:"total"`
}

// Of builds a List; a nil slice becomes [] in JSON.
func Of[T any](items []T, p Page, total int64) List[T] {
	if items == nil {
		items = []T{}
	}
	return List[T]{Items: items, Limit: p.Limit, Offset: p.Offset, Total: total}
}
