package circular

import (
	"archive/zip"
	"bytes"
	"embed"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"text/template"
	"time"

	"github.com/twinning-platform/twinning/internal/calendar"
)

// The .docx template: a minimal OOXML package (content types, relations,
// styles, the document with the red header and A4 section) that Word and
// WPS open. document.xml and core.xml are Go templates; every value goes
// through x (XML escaping).
//
//go:embed all:docx
var docxFS embed.FS

// docxParts are the package's parts in the order written
// ([Content_Types].xml first, as Office writes it).
var docxParts = []string{"[Content_Types].xml", "_rels/.rels", "docProps/core.xml", "word/_rels/document.xml.rels", "word/styles.xml", "word/document.xml"}

// xmlText escapes s for XML character data, dropping characters XML 1.0
// forbids (a control character would make Word refuse the file).
func xmlText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r != 0xFFFE && r != 0xFFFF {
			return r
		}
		return -1
	}, s)
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

type docxData struct {
	Header, Number, Title, Issuer, Date, RectifyBy string
	Preamble, Requirements                         []string
	Head                                           []string
	Rows                                           [][]string
}

func paragraphs(s string) []string {
	var out []string
	for _, p := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// dateWords: 2026年12月1日.
func dateWords(y int, m time.Month, d int) string {
	return fmt.Sprintf("%d年%d月%d日", y, int(m), d)
}

// Docx writes the circular as a .docx document.
func Docx(w io.Writer, c *Circular) error {
	header := c.Issuer
	if header == "" {
		header = "教育局"
	}
	d := docxData{Header: header + "文件", Number: c.Number, Title: c.Title, Issuer: c.Issuer,
		Preamble: paragraphs(c.Preamble), Requirements: paragraphs(c.Requirements),
		Head: []string{"学校", "结对学校", "帮扶任务", "考核周期", "要求", "完成"}}
	if c.PublishedOn != nil {
		d.Date = dateWords(c.PublishedOn.Year(), c.PublishedOn.Month(), c.PublishedOn.Day())
	}
	if c.RectifyBy != nil {
		d.RectifyBy = "请被通报学校于" + dateWords(c.RectifyBy.Year(), c.RectifyBy.Month(), c.RectifyBy.Day()) + "前提交整改报告。"
	}
	for _, g := range c.Schools {
		for _, l := range g.Lines {
			d.Rows = append(d.Rows, []string{g.Name, l.Counterpart, l.Commitment, calendar.KeyWords(l.PeriodKey, "zh-CN"), l.Required.String(), l.Achieved.String()})
		}
	}
	zw := zip.NewWriter(w)
	funcs := template.FuncMap{"x": xmlText}
	for _, name := range docxParts {
		raw, err := fs.ReadFile(docxFS, "docx/"+name)
		if err != nil {
			return err
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			return err
		}
		if strings.HasSuffix(name, "document.xml") || strings.HasSuffix(name, "core.xml") {
			t, err := template.New(name).Funcs(funcs).Parse(string(raw))
			if err != nil {
				return err
			}
			if err := t.Execute(fw, d); err != nil {
				return err
			}
			continue
		}
		if _, err := fw.Write(raw); err != nil {
			return err
		}
	}
	return zw.Close()
}
