package calendar

import "testing"

func TestKeyWords(t *testing.T) {
	for _, c := range []struct{ key, zh, en string }{
		{"2025-2026-autumn", "2025—2026学年秋季学期", "autumn term 2025–2026"},
		{"2026-2027-spring", "2026—2027学年春季学期", "spring term 2026–2027"},
		{"2025-2026", "2025—2026学年", "school year 2025–2026"},
		{"2026-11", "2026年11月", "November 2026"},
		{"2026-01", "2026年1月", "January 2026"},
		{"agreement-12", "协议期", "agreement term"},
		{"2026-13", "2026-13", "2026-13"},
		{"2025-2027", "2025-2027", "2025-2027"},
		{"2025-2026-winter", "2025-2026-winter", "2025-2026-winter"},
		{"", "", ""},
	} {
		if got := KeyWords(c.key, "zh-CN"); got != c.zh {
			t.Errorf("KeyWords(%q, zh-CN) = %q, want %q", c.key, got, c.zh)
		}
		if got := KeyWords(c.key, "en"); got != c.en {
			t.Errorf("KeyWords(%q, en) = %q, want %q", c.key, got, c.en)
		}
	}
}
