package auth_test

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/errs"
)

func TestCheckPassword(t *testing.T) {
	for _, c := range []struct {
		pw     string
		strong bool
		reason string // "" accepted
	}{
		{"password1234", true, "commonly used"},
		{"123456789012", true, "commonly used"},
		{"short-one", true, "at least 12 characters"},
		{"            ", true, "only spaces"},
		{"zhangweizhangwei", true, "too easy to guess"},
		{"长长长长长长长长长长长长长", true, "too easy to guess"},
		{strings.Repeat("长", 129), true, "at most 128"},
		{"春眠不觉晓处处闻啼鸟夜来风雨", true, ""}, // 13 characters, 39 bytes
		{strings.Repeat("tree-moss-", 6) + "1234", true, ""},
		{"password-123", false, ""}, // an operator's choice: length rules only
		{"short-one", false, "at least 12 characters"},
	} {
		err := auth.CheckPassword("password", c.pw, c.strong, "张伟", "zhang.wei@school.cn")
		e, _ := errs.As(err)
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("%q refused: %v", c.pw, err)
		case c.reason != "" && (e == nil || !strings.Contains(e.Fields["password"], c.reason)):
			t.Errorf("%q: %v, want the field password and %q", c.pw, err, c.reason)
		}
	}
}

func TestHasher(t *testing.T) {
	h := auth.Hasher{Argon2: auth.CheapArgon2}
	pw := strings.Repeat("密码", 40) // 240 bytes: no truncation
	hash, err := h.Hash(pw)
	if err != nil || !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q %v", hash, err)
	}
	if ok, rehash := h.Check(hash, pw); !ok || rehash {
		t.Errorf("own hash: ok %v rehash %v", ok, rehash)
	}
	if ok, _ := h.Check(hash, pw[:len(pw)-3]); ok {
		t.Errorf("a prefix of the password matches")
	}
	// other parameters: still checked, marked for rehash
	if ok, rehash := (auth.Hasher{Argon2: auth.Argon2{Memory: 128, Time: 1, Threads: 1}}).Check(hash, pw); !ok || !rehash {
		t.Errorf("older parameters: ok %v rehash %v", ok, rehash)
	}
	b, _ := bcrypt.GenerateFromPassword([]byte("old-password"), bcrypt.MinCost)
	if ok, rehash := h.Check(string(b), "old-password"); !ok || !rehash {
		t.Errorf("bcrypt: ok %v rehash %v", ok, rehash)
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA", "plain"} {
		if ok, _ := h.Check(bad, "x"); ok {
			t.Errorf("%q matches", bad)
		}
	}
}
