package circular_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/circular"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/testutil"
)

func dp(s string) *date.Date { d := date.MustParse(s); return &d }

type lineKey struct {
	School string
	Period string
	Req    string
	Ach    string
}

func linesOf(c *circular.Circular) []lineKey {
	var out []lineKey
	for _, g := range c.Schools {
		for _, l := range g.Lines {
			out = append(out, lineKey{g.Name, l.PeriodKey, l.Required.String(), l.Achieved.String()})
		}
	}
	return out
}

// A circular drafted from known breaches lists exactly those, for the
// schools in the issuer's subtree.
func TestDraftListsExactlyTheBreaches(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db)
		if n := w.count("breaches", ""); n != 6 {
			t.Fatalf("%d breaches recorded, want 6 (the term and five months)", n)
		}
		// the county names its two schools, not the supporting school of another county
		c, err := w.a.Circulars.Draft(w.ctx, w.actors["bureau.x"], circular.DraftInput{PeriodKey: "2025-2026-autumn", Title: "关于2025—2026学年秋季学期结对帮扶工作的通报"})
		if err != nil {
			t.Fatal(err)
		}
		want := []lineKey{
			{"受援一小", "2025-2026-autumn", "2", "1"},
			{"受援二小", "2025-09", "1", "0"}, {"受援二小", "2025-10", "1", "0"}, {"受援二小", "2025-11", "1", "0"},
			{"受援二小", "2025-12", "1", "0"}, {"受援二小", "2026-01", "1", "0"},
		}
		if got := linesOf(c); !slices.Equal(got, want) {
			t.Fatalf("county draft lines:\n got %v\nwant %v", got, want)
		}
		l := c.Schools[0].Lines[0]
		if l.Counterpart != "支援一中" || l.Commitment != "每学期至少 2 次：管理交流（每学期两次管理交流）" || l.Period != "2025—2026学年秋季学期" || c.Status != circular.Draft || c.Issuer != "某县教育局" {
			t.Fatalf("line %+v of %+v", l, c)
		}
		if c.Schools[1].Lines[0].Period != "2025年9月" {
			t.Errorf("month in words: %q", c.Schools[1].Lines[0].Period)
		}
		// the province names all three schools, the supporting school with both pairs' breaches
		pc, err := w.a.Circulars.Draft(w.ctx, w.actors["bureau.p"], circular.DraftInput{PeriodKey: "2025-2026", Title: "学年通报"})
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]int{}
		for _, g := range pc.Schools {
			names[g.Name] = len(g.Lines)
		}
		if names["支援一中"] != 6 || names["受援一小"] != 1 || names["受援二小"] != 5 || len(names) != 3 {
			t.Fatalf("province draft: %v", names)
		}
		// nothing recorded for the spring term; unknown keys; school users
		_, err = w.a.Circulars.Draft(w.ctx, w.actors["bureau.x"], circular.DraftInput{PeriodKey: "2025-2026-spring", Title: "x"})
		if e, ok := errs.As(err); !ok || e.Fields["period_key"] == "" {
			t.Fatalf("spring: %v", err)
		}
		_, err = w.a.Circulars.Draft(w.ctx, w.actors["bureau.x"], circular.DraftInput{PeriodKey: "2031-2032", Title: ""})
		if e, ok := errs.As(err); !ok || e.Fields["title"] == "" {
			t.Fatalf("title: %v", err)
		}
		_, err = w.a.Circulars.Draft(w.ctx, w.actors["bureau.x"], circular.DraftInput{PeriodKey: "2031-2032", Title: "x"})
		if e, ok := errs.As(err); !ok || e.Fields["period_key"] == "" {
			t.Fatalf("unknown year: %v", err)
		}
		if _, err = w.a.Circulars.Draft(w.ctx, w.actors["sud1.head"], circular.DraftInput{PeriodKey: "2025-2026", Title: "x"}); !errs.Is(err, errs.KindForbidden) {
			t.Fatalf("principal drafting: %v", err)
		}
		// the county does not see the province's draft; the province sees both
		l1, _ := w.a.Circulars.List(w.ctx, w.actors["bureau.x"], circular.Filter{}, page.Page{})
		l2, _ := w.a.Circulars.List(w.ctx, w.actors["bureau.p"], circular.Filter{}, page.Page{})
		if l1.Total != 1 || l2.Total != 2 {
			t.Fatalf("lists: county %d, province %d", l1.Total, l2.Total)
		}
		if _, err := w.a.Circulars.Get(w.ctx, w.actors["bureau.x"], pc.ID); !errs.Is(err, errs.KindNotFound) {
			t.Fatalf("county reads the province's draft: %v", err)
		}
		if _, err := w.a.Circulars.Get(w.ctx, w.actors["sud1.head"], c.ID); !errs.Is(err, errs.KindNotFound) {
			t.Fatalf("a school reads a draft: %v", err)
		}
	})
}

// Partial PATCH of a draft; publishing notifies exactly the named schools'
// principals and coordinators once, by mail; the circular is then frozen.
func TestPublishNotifiesNamedSchoolsOnce(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db)
		bx := w.actors["bureau.x"]
		c, err := w.a.Circulars.Draft(w.ctx, bx, circular.DraftInput{PeriodKey: "2025-2026-autumn", Title: "通报", Preamble: "前言"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.a.Circulars.Publish(w.ctx, bx, c.ID); !hasFields(err, "number", "rectify_by") {
			t.Fatalf("publish without number and deadline: %v", err)
		}
		patch := func(body string) (*circular.Circular, error) {
			var p circular.Patch
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				return nil, err
			}
			return w.a.Circulars.Update(w.ctx, bx, c.ID, p)
		}
		got, err := patch(`{"number":"麻教通〔2026〕3号","rectify_by":"2026-03-01","requirements":"一、立即整改。"}`)
		if err != nil {
			t.Fatal(err)
		}
		if got.Title != "通报" || got.Preamble != "前言" || got.Number != "麻教通〔2026〕3号" || got.RectifyBy.String() != "2026-03-01" {
			t.Fatalf("after patch: %+v", got)
		}
		if got, err = patch(`{"preamble":null}`); err != nil || got.Preamble != "" || got.Number == "" {
			t.Fatalf("null clears: %+v %v", got, err)
		}
		if _, err = patch(`{"title":null}`); !hasFields(err, "title") {
			t.Fatalf("title null: %v", err)
		}
		if _, err = patch(`{"rectify_by":"2026-01-01"}`); !hasFields(err, "rectify_by") {
			t.Fatalf("past deadline: %v", err)
		}
		var bad circular.Patch
		if err := json.Unmarshal([]byte(`{"status":"published"}`), &bad); err == nil {
			t.Fatalf("unknown field accepted")
		}

		pub, err := w.a.Circulars.Publish(w.ctx, bx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if pub.Status != circular.Published || pub.PublishedOn.String() != "2026-02-08" {
			t.Fatalf("published: %+v", pub)
		}
		if _, err := w.a.Circulars.Publish(w.ctx, bx, c.ID); !errs.Is(err, errs.KindConflict) {
			t.Fatalf("second publish: %v", err)
		}
		if _, err := patch(`{"title":"改"}`); !errs.Is(err, errs.KindConflict) {
			t.Fatalf("patch after publish: %v", err)
		}
		if n := w.count("rectifications", "circular_id = ?", c.ID); n != 2 {
			t.Fatalf("%d rectifications, want 2", n)
		}
		if n := w.count("notices", "kind = ?", "circular"); n != 4 {
			t.Fatalf("%d circular notices, want 4", n)
		}
		w.deliver()
		w.deliver()
		msgs := w.smtp.take()
		if got, want := rcpts(msgs), w.addr("sud1.coord", "sud1.head", "sud2.coord", "sud2.head"); !slices.Equal(got, want) {
			t.Fatalf("recipients %v, want %v", got, want)
		}
		for _, m := range msgs {
			if !strings.Contains(m.Raw, "/rectifications/") {
				t.Errorf("the mail to %v does not link to the school's rectification:\n%s", m.To, m.Raw)
			}
			en := m.To[0] == "sud1.head@test.local"
			switch {
			case en && (!strings.Contains(m.Subject, "Circular 麻教通〔2026〕3号") || !strings.Contains(m.Raw, "autumn term 2025=E2=80=932026") && !strings.Contains(m.Raw, "autumn term 2025–2026")):
				t.Errorf("English mail: %s\n%s", m.Subject, m.Raw)
			case !en && !strings.Contains(m.Subject, "【通报】麻教通〔2026〕3号"):
				t.Errorf("mail subject %q", m.Subject)
			}
		}
		// the schools now see it, each only its own lines
		s1, err := w.a.Circulars.Get(w.ctx, w.actors["sud1.coord"], c.ID)
		if err != nil || len(s1.Schools) != 1 || s1.Schools[0].Name != "受援一小" {
			t.Fatalf("school view: %+v %v", s1, err)
		}
		if _, err := w.a.Circulars.Get(w.ctx, w.actors["sup.coord"], c.ID); !errs.Is(err, errs.KindNotFound) {
			t.Fatalf("an unnamed school reads it: %v", err)
		}
		var audits int64
		db.Gorm().Table("audit_log").Where("entity = ? AND entity_id = ?", "circular", c.ID).Count(&audits)
		if audits != 4 { // draft, two patches, publish (refused writes leave none)
			t.Fatalf("audit rows: %d, want 4", audits)
		}
	})
}

func hasFields(err error, fields ...string) bool {
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.KindInvalid {
		return false
	}
	for _, f := range fields {
		if e.Fields[f] == "" {
			return false
		}
	}
	return true
}

// The .docx opens as an OOXML package and reads back with its title,
// number and a table row per line.
func TestDocxReadsBack(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db)
		c, err := w.a.Circulars.Draft(w.ctx, w.actors["bureau.x"], circular.DraftInput{PeriodKey: "2025-2026-autumn",
			Title: "关于结对帮扶工作的通报 <&>", Number: "麻教通〔2026〕3号", Preamble: "第一段。\n第二段。", RectifyBy: dp("2026-03-01")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.a.Circulars.Publish(w.ctx, w.actors["bureau.x"], c.ID); err != nil {
			t.Fatal(err)
		}
		full, err := w.a.Circulars.Get(w.ctx, w.actors["bureau.x"], c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := circular.Docx(&buf, full); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		parts := map[string][]byte{}
		for _, f := range zr.File {
			rc, _ := f.Open()
			parts[f.Name], _ = io.ReadAll(rc)
			rc.Close()
		}
		for _, p := range []string{"[Content_Types].xml", "_rels/.rels", "word/document.xml", "word/styles.xml", "word/_rels/document.xml.rels"} {
			if _, ok := parts[p]; !ok {
				t.Fatalf("missing part %s", p)
			}
			if err := xml.Unmarshal(parts[p], new(struct{})); err != nil {
				t.Fatalf("%s is not well-formed XML: %v", p, err)
			}
		}
		doc := readDocument(t, parts["word/document.xml"])
		if len(doc.paras) < 4 || doc.paras[0] != "某县教育局文件" || doc.paras[1] != "麻教通〔2026〕3号" || doc.paras[2] != "关于结对帮扶工作的通报 <&>" {
			t.Fatalf("paragraphs: %q", doc.paras)
		}
		if !slices.Contains(doc.paras, "第二段。") || !slices.Contains(doc.paras, "请被通报学校于2026年3月1日前提交整改报告。") {
			t.Fatalf("paragraphs: %q", doc.paras)
		}
		if len(doc.rows) != 7 || !slices.Equal(doc.rows[0], []string{"学校", "结对学校", "帮扶任务", "考核周期", "要求", "完成"}) ||
			!slices.Equal(doc.rows[1], []string{"受援一小", "支援一中", "每学期至少 2 次：管理交流（每学期两次管理交流）", "2025—2026学年秋季学期", "2", "1"}) ||
			doc.rows[6][3] != "2026年1月" {
			t.Fatalf("table: %q", doc.rows)
		}
		if !strings.Contains(string(parts["word/document.xml"]), `w:color w:val="E60012"`) || !strings.Contains(string(parts["word/document.xml"]), `w:pgSz w:w="11906" w:h="16838"`) {
			t.Errorf("no red header or A4 page")
		}
	})
}

type document struct {
	paras []string   // body paragraphs outside tables
	rows  [][]string // table rows, cell texts
}

// readDocument parses word/document.xml: paragraph texts and table cells.
func readDocument(t *testing.T, raw []byte) document {
	t.Helper()
	var d document
	dec := xml.NewDecoder(bytes.NewReader(raw))
	var inTbl, inT bool
	var para, cell strings.Builder
	var row []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("document.xml: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			switch e.Name.Local {
			case "tbl":
				inTbl = true
			case "tr":
				row = nil
			case "tc":
				cell.Reset()
			case "p":
				para.Reset()
			case "t":
				inT = true
			}
		case xml.EndElement:
			switch e.Name.Local {
			case "tbl":
				inTbl = false
			case "tr":
				d.rows = append(d.rows, row)
			case "tc":
				row = append(row, cell.String())
			case "p":
				if !inTbl {
					d.paras = append(d.paras, para.String())
				}
			case "t":
				inT = false
			}
		case xml.CharData:
			if inT {
				if inTbl {
					cell.Write(e)
				} else {
					para.Write(e)
				}
			}
		}
	}
	return d
}
