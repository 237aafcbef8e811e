// Package view renders the web pages: one html/template set per page (the
// base layout, the partials and the page itself), parsed once at start-up
// from the embedded templates/ and executed with per-request data (locale,
// user, CSRF token, flash). It also serves the embedded static assets under
// content-hashed URLs and turns domain error messages into the reader's
// language. It knows nothing of HTTP routing.
package view

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"path"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/i18n"
)

// Renderer holds the parsed page templates and the static assets.
type Renderer struct {
	pages  map[string]*template.Template
	cat    *i18n.Catalog
	loc    *time.Location
	static fs.FS
	assets map[string]string // path under static/ → short content hash
}

// New parses layouts/*.html, partials/*.html and every pages/*.html of fsys
// into one template set per page, and hashes the files under static/.
func New(fsys fs.FS, cat *i18n.Catalog, loc *time.Location) (*Renderer, error) {
	if loc == nil {
		loc = time.UTC
	}
	r := &Renderer{pages: map[string]*template.Template{}, cat: cat, loc: loc, assets: map[string]string{}}
	base := template.New("").Funcs(funcs)
	for _, glob := range []string{"layouts/*.html", "partials/*.html"} {
		names, err := fs.Glob(fsys, glob)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			continue
		}
		if base, err = base.ParseFS(fsys, glob); err != nil {
			return nil, fmt.Errorf("view: %w", err)
		}
	}
	pages, err := fs.Glob(fsys, "pages/*.html")
	if err != nil {
		return nil, err
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("view: no pages/*.html in the templates")
	}
	for _, p := range pages {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if t, err = t.ParseFS(fsys, p); err != nil {
			return nil, fmt.Errorf("view: %w", err)
		}
		r.pages[strings.TrimSuffix(path.Base(p), ".html")] = t
	}
	static, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, err
	}
	r.static = static
	err = fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		r.assets[p] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("view: static: %w", err)
	}
	return r, nil
}

// NewPage starts the data of a page in a locale.
func (r *Renderer) NewPage(locale string) *Page { return &Page{Locale: locale, r: r} }

// Has reports whether a page template exists.
func (r *Renderer) Has(name string) bool { _, ok := r.pages[name]; return ok }

// Render executes the page's layout into w. It renders into a buffer first,
// so a template error never leaves half a page behind.
func (r *Renderer) Render(w io.Writer, name string, p *Page) error {
	return r.RenderBlock(w, name, "base", p)
}

// RenderBlock executes one named template of a page's set (an htmx
// fragment, for instance).
func (r *Renderer) RenderBlock(w io.Writer, name, block string, p *Page) error {
	t, ok := r.pages[name]
	if !ok {
		return fmt.Errorf("view: no page %q", name)
	}
	p.r = r
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, p); err != nil {
		return fmt.Errorf("view: %s/%s: %w", name, block, err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// Static is the file system of the static assets.
func (r *Renderer) Static() fs.FS { return r.static }

// AssetVersion is the content hash of a static file, if it exists.
func (r *Renderer) AssetVersion(name string) (string, bool) {
	v, ok := r.assets[name]
	return v, ok
}

// Catalog is the message catalogue the pages are translated with.
func (r *Renderer) Catalog() *i18n.Catalog { return r.cat }

// T translates outside a page (for flash messages and the like).
func (r *Renderer) T(locale, id string, data map[string]any) string { return r.cat.T(locale, id, data) }

// Page is the data of one rendered page.
type Page struct {
	Locale string
	User   *auth.Actor // nil when signed out
	CSRF   string
	// Flash is the catalogue id of a one-time message after a redirect.
	Flash string
	// Title is the catalogue id of the page's title.
	Title string
	// Nav names the active navigation item.
	Nav string
	// Path is the request's path and query: where the language switch
	// returns to.
	Path  string
	Today date.Date
	// ToConfirm is a principal's count of activities awaiting a decision
	// (the badge in the navigation).
	ToConfirm int64
	// Unread is the signed-in user's count of unseen notices (the bell).
	Unread int64
	Form   *Form
	Data   any

	r *Renderer
}

// T translates a catalogue id; kv are alternating names and values for
// the message's placeholders.
func (p *Page) T(id string, kv ...any) string {
	var data map[string]any
	if len(kv) > 1 {
		data = make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			if k, ok := kv[i].(string); ok {
				data[k] = kv[i+1]
			}
		}
	}
	return p.r.cat.T(p.Locale, id, data)
}

// Category is the label of a category code.
func (p *Page) Category(code string) string { return p.T("category." + code) }

// Categories lists category labels in the reader's language.
func (p *Page) Categories(codes []string) string {
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = p.Category(c)
	}
	return strings.Join(out, p.T("list.separator"))
}

// Status is the label of a compliance or activity status.
func (p *Page) Status(s any) string { return p.T("status." + fmt.Sprint(s)) }

// Unit is the unit of a commitment's measure.
func (p *Page) Unit(measure string) string { return p.T("unit." + measure) }

// Commitment words a quota as the mail does: "每学期至少 2 次：示范课、专题讲座".
func (p *Page) Commitment(categories []string, measure string, minimum decimal.D, period any) string {
	return p.T("commitment.words", "Period", p.T("period."+fmt.Sprint(period)), "Minimum", Num(minimum),
		"Unit", p.Unit(measure), "Categories", p.Categories(categories))
}

// Term names a term key ("2026-2027-autumn" → "2026-2027 秋季学期").
func (p *Page) Term(key string) string {
	for _, season := range []string{"autumn", "spring"} {
		if y, ok := strings.CutSuffix(key, "-"+season); ok {
			return y + " " + p.T("season."+season)
		}
	}
	return key
}

// PeriodName names a period by its kind and key: a term by its season, a
// school year as such, a month by its key, an agreement's whole span.
func (p *Page) PeriodName(kind any, key string) string {
	switch fmt.Sprint(kind) {
	case "term":
		return p.Term(key)
	case "school_year":
		return p.T("period.school_year_n", "Year", key)
	case "agreement":
		return p.T("period.whole_agreement")
	}
	return key
}

// Asset is the versioned URL of a static file; the version changes with
// its content, so the file can be cached for a year.
func (p *Page) Asset(name string) string {
	if v, ok := p.r.assets[name]; ok {
		return "/static/" + name + "?v=" + v
	}
	return "/static/" + name
}

// Time shows an instant in the programme's time zone.
func (p *Page) Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(p.r.loc).Format("2006-01-02 15:04")
}

// Is reports whether the signed-in user has one of the roles.
func (p *Page) Is(roles ...string) bool {
	if p.User == nil {
		return false
	}
	for _, r := range roles {
		if p.User.Role == r {
			return true
		}
	}
	return false
}

// OtherLocale is the locale the language switch offers.
func (p *Page) OtherLocale() string {
	if p.Locale == "en" {
		return "zh-CN"
	}
	return "en"
}

// HTMLLang is the lang attribute of the page.
func (p *Page) HTMLLang() string {
	if p.Locale == "en" {
		return "en"
	}
	return "zh-Hans"
}

// Form carries submitted values and their errors (already translated) for
// re-rendering a form.
type Form struct {
	Values map[string]string
	Multi  map[string][]string
	Errors map[string]string
	// Error is a message about the whole form.
	Error string
}

// NewForm is an empty form.
func NewForm() *Form {
	return &Form{Values: map[string]string{}, Multi: map[string][]string{}, Errors: map[string]string{}}
}

// Val is a submitted value.
func (f *Form) Val(name string) string {
	if f == nil {
		return ""
	}
	return f.Values[name]
}

// Err is a field's error message.
func (f *Form) Err(name string) string {
	if f == nil {
		return ""
	}
	return f.Errors[name]
}

// Has reports whether a multi-valued field (checkboxes) holds v.
func (f *Form) Has(name, v string) bool {
	if f == nil {
		return false
	}
	for _, x := range f.Multi[name] {
		if x == v {
			return true
		}
	}
	return false
}

// Invalid reports whether any field or the form failed.
func (f *Form) Invalid() bool { return f != nil && (len(f.Errors) > 0 || f.Error != "") }

// Num shows a number without trailing zeros: 2, 2.5, 12.25.
func Num(v decimal.D) string { return v.String() }

var funcs = template.FuncMap{
	"num":       Num,
	"recipient": Recipient, // address.go
	"date": func(d date.Date) string {
		if d.IsZero() {
			return ""
		}
		return d.String()
	},
	// dict builds the argument of a partial: dict "P" $ "Item" .
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, fmt.Errorf("dict: odd number of arguments")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
	// pct is part of whole in whole percent, capped at 100.
	"pct": func(part, whole decimal.D) int {
		if whole <= 0 {
			if part > 0 {
				return 100
			}
			return 0
		}
		// floor(part × 100 / whole) on integers
		return int(min(100, part.MulFrac(100, whole.Hundredths(), false).Hundredths()))
	},
	"add": func(a, b int) int { return a + b },
	// deref follows a pointer (nil stays nil).
	"deref": func(v any) any {
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Pointer {
			return v
		}
		if rv.IsNil() {
			return nil
		}
		return rv.Elem().Interface()
	},
	// statusClass is the CSS class of a compliance or activity status.
	"statusClass": func(s any) string { return "st-" + fmt.Sprint(s) },
	"str":         func(v any) string { return fmt.Sprint(v) },
	"id":          func(v int64) string { return strconv.FormatInt(v, 10) },
	"isImage": func(ctype string) bool {
		return strings.HasPrefix(ctype, "image/")
	},
	"kb": func(n int64) string {
		if n < 1024 {
			return strconv.FormatInt(n, 10) + " B"
		}
		if n < 1<<20 {
			return strconv.FormatInt((n+512)/1024, 10) + " KB"
		}
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	},
}
