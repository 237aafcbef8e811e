package search_test

import (
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/search"
)

func TestText(t *testing.T) {
	text := search.Text("武汉市第六中学", "1142010001")
	if text != "武汉市第六中学 1142010001 wuhanshidiliuzhongxue whsdlzx" {
		t.Errorf("text = %q", text)
	}
	for _, q := range []string{"wuhan", "diliu", "whsd", "六中", "WUHAN", "wu han", "0100", "zhongxue"} {
		pat := strings.Trim(search.Like(q), "%")
		if !strings.Contains(text, pat) {
			t.Errorf("%q (%q) does not find %q", q, pat, text)
		}
	}
	if got := search.Like("50%_!"); got != "%50!%!_!!%" {
		t.Errorf("escaped %q", got)
	}
	if full, ini := search.Pinyin("第1中学 ABC"); full != "di1zhongxueabc" || ini != "d1zxabc" {
		t.Errorf("mixed: %q %q", full, ini)
	}
	if full, _ := search.Pinyin("Springfield High"); full != "" {
		t.Errorf("no Han characters gave %q", full)
	}
	if n := len([]rune(search.Text(strings.Repeat("长", 300)))); n > search.MaxLen {
		t.Errorf("%d characters", n)
	}
}
