package calendar

import (
	"strconv"
	"strings"
	"time"
)

// KeyWords says a period key in words, for mail and documents: never a
// raw key in front of a reader.
//
//	2025-2026-autumn  2025—2026学年秋季学期   autumn term 2025–2026
//	2025-2026         2025—2026学年           school year 2025–2026
//	2026-11           2026年11月              November 2026
//	agreement-12      协议期                  agreement term
//
// An unknown key is returned as it is.
func KeyWords(key, locale string) string {
	en := locale == "en"
	switch {
	case strings.HasPrefix(key, "agreement-"):
		if en {
			return "agreement term"
		}
		return "协议期"
	case len(key) == 7 && key[4] == '-': // month
		y, err1 := strconv.Atoi(key[:4])
		m, err2 := strconv.Atoi(key[5:])
		if err1 != nil || err2 != nil || m < 1 || m > 12 {
			return key
		}
		if en {
			return time.Month(m).String() + " " + key[:4]
		}
		return strconv.Itoa(y) + "年" + strconv.Itoa(m) + "月"
	case len(key) >= 9 && ValidateSchoolYear(key[:9]) == nil:
		a, b := key[:4], key[5:9]
		season := strings.TrimPrefix(key[9:], "-")
		switch {
		case key[9:] == "" && en:
			return "school year " + a + "–" + b
		case key[9:] == "":
			return a + "—" + b + "学年"
		case season == Autumn && en:
			return "autumn term " + a + "–" + b
		case season == Spring && en:
			return "spring term " + a + "–" + b
		case season == Autumn:
			return a + "—" + b + "学年秋季学期"
		case season == Spring:
			return a + "—" + b + "学年春季学期"
		}
	}
	return key
}
