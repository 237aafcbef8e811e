package i18n_test

import (
	"testing"

	"github.com/twinning-platform/twinning/internal/category"
	"github.com/twinning-platform/twinning/internal/i18n"
	"github.com/twinning-platform/twinning/templates"
)

func TestEveryCategoryIsTranslated(t *testing.T) {
	c, err := i18n.New(templates.FS())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range i18n.Locales() {
		for _, code := range category.All() {
			if got := c.T(l, "category."+code, nil); got == "category."+code || got == "" {
				t.Errorf("%s: category %s has no label", l, code)
			}
		}
	}
	if c.T("zh-CN", "category.visit", nil) != "实地指导" || c.T("en", "category.visit", nil) != "on-site guidance" {
		t.Fatal("wrong labels")
	}
	if got := c.T("en", "commitment.words", map[string]any{"Minimum": 2, "Unit": "times", "Period": "per term", "Categories": "lecture"}); got != "at least 2 times per term: lecture" {
		t.Fatalf("template data: %q", got)
	}
}

func TestLocaleChoice(t *testing.T) {
	c, err := i18n.New(templates.FS())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ user, accept, want string }{
		{"en", "zh-CN", "en"},
		{"", "en-GB,en;q=0.9", "en"},
		{"", "zh-TW,zh;q=0.9", "zh-CN"},
		{"", "fr-FR", "zh-CN"},
		{"", "", "zh-CN"},
		{"xx", "en", "en"},
	}
	for _, tc := range cases {
		if got := c.Locale(tc.user, tc.accept); got != tc.want {
			t.Errorf("Locale(%q, %q) = %q, want %q", tc.user, tc.accept, got, tc.want)
		}
	}
}
