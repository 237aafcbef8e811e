package view

import "testing"

func TestRecipient(t *testing.T) {
	for in, want := range map[string]string{
		"=?utf-8?q?=E5=B8=82=E6=95=99=E8=82=B2=E5=B1=80?= <bureau.city@test.local>": "市教育局 <bureau.city@test.local>",
		`"coord@x.cn" <coord@x.cn>`: "coord@x.cn <coord@x.cn>",
		"<a@b.cn>":                  "a@b.cn",
		"not an address":            "not an address",
	} {
		if got := Recipient(in); got != want {
			t.Errorf("Recipient(%q) = %q, want %q", in, got, want)
		}
	}
}
