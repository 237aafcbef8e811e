package patch_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/patch"
	"github.com/twinning-platform/twinning/internal/validation"
)

type body struct {
	Title patch.Field[string] `json:"title" validate:"omitempty,max=5"`
	Code  patch.Field[string] `json:"code" validate:"required"`
	N     patch.Field[int64]  `json:"n"`
}

func TestAbsentNullValue(t *testing.T) {
	var b body
	if err := json.Unmarshal([]byte(`{"title":null,"n":3}`), &b); err != nil {
		t.Fatal(err)
	}
	if !b.Title.Set || !b.Title.Null || b.Title.HasValue() {
		t.Errorf("title: %+v, want present null", b.Title)
	}
	if b.Code.Set {
		t.Errorf("code: %+v, want absent", b.Code)
	}
	if !b.N.HasValue() || b.N.Value != 3 {
		t.Errorf("n: %+v, want 3", b.N)
	}
	s := "old"
	var sp = &s
	b.Title.ApplyPtr(&sp)
	if sp != nil {
		t.Error("null did not clear the pointer")
	}
	b.Code.Apply(&s)
	if s != "old" {
		t.Error("absent changed the value")
	}
}

func TestTypeErrorNamesField(t *testing.T) {
	var b body
	err := json.Unmarshal([]byte(`{"n":"x"}`), &b)
	te, ok := err.(*json.UnmarshalTypeError)
	if !ok || te.Field != "n" {
		t.Fatalf("err = %#v, want an UnmarshalTypeError naming n", err)
	}
}

func TestValidation(t *testing.T) {
	v := validation.New()
	cases := []struct {
		raw   string
		field string // "" = valid
	}{
		{`{"code":"a"}`, ""},
		{`{"code":"a","title":null}`, ""},
		{`{"code":"a","title":"toolong"}`, "title"},
		{`{}`, "code"},
		{`{"code":null}`, "code"},
	}
	for _, c := range cases {
		var b body
		if err := json.Unmarshal([]byte(c.raw), &b); err != nil {
			t.Fatal(err)
		}
		err := v.Validate(b)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: %v", c.raw, err)
		case c.field != "" && (err == nil || !strings.Contains(err.Error(), c.field)):
			t.Errorf("%s: %v, want an error on %s", c.raw, err, c.field)
		}
	}
}
