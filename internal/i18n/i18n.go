// Package i18n holds the message catalogues (templates/i18n/*.yaml) and
// picks a locale: the user's setting, else the browser's Accept-Language,
// else zh-CN. It wraps nicksnyder/go-i18n.
package i18n

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"gopkg.in/yaml.v3"
)

// Supported locales, the default first.
var locales = []string{"zh-CN", "en"}

// Locales lists the supported locales, the default first.
func Locales() []string { return append([]string(nil), locales...) }

// Catalog translates message ids.
type Catalog struct {
	bundle     *i18n.Bundle
	localizers map[string]*i18n.Localizer
	matcher    language.Matcher
}

// New loads i18n/<locale>.yaml for every supported locale from fsys.
func New(fsys fs.FS) (*Catalog, error) {
	b := i18n.NewBundle(language.SimplifiedChinese)
	b.RegisterUnmarshalFunc("yaml", yaml.Unmarshal)
	c := &Catalog{bundle: b, localizers: map[string]*i18n.Localizer{}}
	tags := make([]language.Tag, len(locales))
	for i, l := range locales {
		if _, err := b.LoadMessageFileFS(fsys, "i18n/"+l+".yaml"); err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		c.localizers[l] = i18n.NewLocalizer(b, l)
		tags[i] = language.MustParse(l)
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// T translates id in locale; data fills {{.Field}} placeholders. A missing
// id shows as the id itself, never an empty string.
func (c *Catalog) T(locale, id string, data any) string {
	l, ok := c.localizers[locale]
	if !ok {
		l = c.localizers[locales[0]]
	}
	s, err := l.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data})
	if err != nil || s == "" {
		return id
	}
	return s
}

// Locale picks the locale: the user's own if set and supported, else the
// best match of Accept-Language, else zh-CN.
func (c *Catalog) Locale(user, acceptLanguage string) string {
	for _, l := range locales {
		if strings.EqualFold(user, l) {
			return l
		}
	}
	if acceptLanguage != "" {
		tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
		if err == nil && len(tags) > 0 {
			_, idx, conf := c.matcher.Match(tags...)
			if conf != language.No {
				return locales[idx]
			}
		}
	}
	return locales[0]
}
