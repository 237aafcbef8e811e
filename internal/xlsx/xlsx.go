// Package xlsx writes a one-sheet Excel workbook (Office Open XML,
// ECMA-376) straight to an io.Writer as its rows arrive: a province's
// export is hundreds of thousands of rows, and the writer holds one row
// and the compressor's window, never the sheet. excelize, which the
// imports and the smaller exports use, keeps a stream writer's sheet in a
// 16 MiB buffer and then builds the whole zipped file in memory before the
// first byte leaves; two province exports at once were a third of the
// server's memory (issue 12).
//
// What it writes is what the exports need: typed cells (inline strings,
// numbers), column widths, a bold shaded header row, a frozen first row.
// Strings are inline (no shared-string table to hold), which Excel,
// LibreOffice, WPS and excelize all read.
package xlsx

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Options shape the sheet.
type Options struct {
	Sheet        string    // the sheet's name (Excel allows 31 characters)
	Widths       []float64 // column widths in characters, from column A
	FreezeHeader bool      // keep row 1 in view when scrolling
}

// Writer writes one sheet. Call Row for each row, then Close; after an
// error the output is incomplete and the Writer unusable.
type Writer struct {
	zw   *zip.Writer
	buf  *bufio.Writer
	rows int
	err  error
	// scratch, reused by every row: the row number, a cell reference,
	// a number's digits
	num, ref, val []byte
}

// Number is a cell value written as a number in the given text form (a
// decimal's exact digits, say): the sheet stores what it reads.
type Number string

// New starts a workbook on w and writes everything before the rows.
func New(w io.Writer, o Options) (*Writer, error) {
	name := o.Sheet
	if name == "" {
		name = "Sheet1"
	}
	if n := utf8.RuneCountInString(name); n > 31 || strings.ContainsAny(name, `[]:*?/\`) {
		return nil, fmt.Errorf("xlsx: sheet name %q: at most 31 characters, none of []:*?/\\", name)
	}
	zw := zip.NewWriter(w)
	// speed over the last percent of size: the XML of a sheet deflates
	// about as well at the fastest level, at a fraction of the CPU
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	x := &Writer{zw: zw}
	for _, part := range []struct{ name, body string }{
		{"[Content_Types].xml", contentTypes},
		{"_rels/.rels", rootRels},
		{"xl/workbook.xml", fmt.Sprintf(workbook, escape(name))},
		{"xl/_rels/workbook.xml.rels", workbookRels},
		{"xl/styles.xml", styles},
	} {
		// a few hundred bytes each: stored, not worth a compressor's
		// megabyte of state
		f, err := zw.CreateHeader(&zip.FileHeader{Name: part.name, Method: zip.Store})
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(f, xmlHeader+part.body); err != nil {
			return nil, err
		}
	}
	f, err := zw.CreateHeader(&zip.FileHeader{Name: "xl/worksheets/sheet1.xml", Method: zip.Deflate})
	if err != nil {
		return nil, err
	}
	x.buf = bufio.NewWriterSize(f, 64<<10)
	x.put(xmlHeader + `<worksheet xmlns="` + nsMain + `">`)
	if o.FreezeHeader {
		x.put(`<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>` +
			`<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>`)
	}
	if len(o.Widths) > 0 {
		x.put(`<cols>`)
		for i, wd := range o.Widths {
			col := strconv.Itoa(i + 1)
			x.put(`<col min="` + col + `" max="` + col + `" width="` + strconv.FormatFloat(wd, 'f', -1, 64) + `" customWidth="1"/>`)
		}
		x.put(`</cols>`)
	}
	x.put(`<sheetData>`)
	return x, x.err
}

// Row appends a row of values: a string is a text cell; Number, int,
// int32, int64 and (finite) float64 are number cells; nil is an empty
// cell; anything else is the text fmt.Sprint makes of it (a number-like
// type is not guessed at: pass its exact digits as a Number).
func (x *Writer) Row(values []any) error { return x.row(values, "") }

// Header appends a row styled as a header: bold on a grey fill.
func (x *Writer) Header(values []any) error { return x.row(values, ` s="1"`) }

func (x *Writer) row(values []any, style string) error {
	if x.err != nil {
		return x.err
	}
	if x.rows == MaxRows || len(values) > MaxColumns {
		// a sheet past Excel's grid does not open at all: stop here
		x.err = fmt.Errorf("xlsx: a sheet holds at most %d rows of %d columns", MaxRows, MaxColumns)
		return x.err
	}
	x.rows++
	x.num = strconv.AppendInt(x.num[:0], int64(x.rows), 10)
	x.put(`<row r="`)
	x.write(x.num)
	x.put(`">`)
	for i, v := range values {
		if v == nil {
			continue
		}
		x.ref = append(appendColumn(x.ref[:0], i), x.num...)
		switch v := v.(type) {
		case string:
			x.text(style, v)
		case Number:
			x.val = append(x.val[:0], v...)
			x.number(style)
		case int:
			x.val = strconv.AppendInt(x.val[:0], int64(v), 10)
			x.number(style)
		case int32:
			x.val = strconv.AppendInt(x.val[:0], int64(v), 10)
			x.number(style)
		case int64:
			x.val = strconv.AppendInt(x.val[:0], v, 10)
			x.number(style)
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				x.text(style, strconv.FormatFloat(v, 'f', -1, 64))
			} else {
				x.val = strconv.AppendFloat(x.val[:0], v, 'f', -1, 64)
				x.number(style)
			}
		default:
			x.text(style, fmt.Sprint(v))
		}
	}
	x.put(`</row>`)
	return x.err
}

// Close ends the sheet and the zip archive.
func (x *Writer) Close() error {
	if x.err != nil {
		return x.err
	}
	x.put(`</sheetData></worksheet>`)
	if x.err == nil {
		x.err = x.buf.Flush()
	}
	if x.err == nil {
		x.err = x.zw.Close()
	}
	if x.err == nil {
		x.err = errClosed // a second Close or Row is a mistake
		return nil
	}
	return x.err
}

var errClosed = errors.New("xlsx: writer closed")

func (x *Writer) put(s string) {
	if x.err == nil {
		_, x.err = x.buf.WriteString(s)
	}
}

func (x *Writer) write(b []byte) {
	if x.err == nil {
		_, x.err = x.buf.Write(b)
	}
}

func (x *Writer) text(style, v string) {
	if len(v) > maxCellBytes {
		// Excel refuses a cell over 32,767 characters: cut, never fail
		v = strings.ToValidUTF8(v[:maxCellBytes], "")
	}
	x.put(`<c r="`)
	x.write(x.ref)
	x.put(`"`)
	x.put(style)
	x.put(` t="inlineStr"><is><t xml:space="preserve">`)
	x.escape(v)
	x.put(`</t></is></c>`)
}

// number writes the cell of the digits in x.val.
func (x *Writer) number(style string) {
	x.put(`<c r="`)
	x.write(x.ref)
	x.put(`"`)
	x.put(style)
	x.put(` t="n"><v>`)
	x.write(x.val)
	x.put(`</v></c>`)
}

// escape writes v as XML character data: the five markup characters as
// entities, tab, newline and carriage return as character references
// (kept through attribute-value normalisation by every reader), and
// what XML 1.0 cannot carry at all — other control characters, invalid
// UTF-8, U+FFFE and U+FFFF — as U+FFFD.
func (x *Writer) escape(v string) {
	last := 0
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		var rep string
		switch {
		case r == '&':
			rep = "&amp;"
		case r == '<':
			rep = "&lt;"
		case r == '>':
			rep = "&gt;"
		case r == '"':
			rep = "&#34;"
		case r == '\t':
			rep = "&#x9;"
		case r == '\n':
			rep = "&#xA;"
		case r == '\r':
			rep = "&#xD;"
		case r < 0x20 || r == 0xFFFE || r == 0xFFFF || (r == utf8.RuneError && size == 1):
			rep = "\uFFFD"
		}
		if rep != "" {
			x.put(v[last:i])
			x.put(rep)
			last = i + size
		}
		i += size
	}
	x.put(v[last:])
}

const maxCellBytes = 32767

// Excel's grid: rows and columns a sheet can hold.
const (
	MaxRows    = 1 << 20
	MaxColumns = 1 << 14
)

// appendColumn appends the letters of the zero-based column i (A, …, Z,
// AA, …).
func appendColumn(b []byte, i int) []byte {
	if i >= 26 {
		b = appendColumn(b, i/26-1)
	}
	return append(b, byte('A'+i%26))
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

const (
	xmlHeader = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"
	nsMain    = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
	nsRel     = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	nsPkgRel  = "http://schemas.openxmlformats.org/package/2006/relationships"

	contentTypes = `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>` +
		`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
		`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
		`<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>` +
		`</Types>`
	rootRels = `<Relationships xmlns="` + nsPkgRel + `">` +
		`<Relationship Id="rId1" Type="` + nsRel + `/officeDocument" Target="xl/workbook.xml"/></Relationships>`
	workbook = `<workbook xmlns="` + nsMain + `" xmlns:r="` + nsRel + `">` +
		`<sheets><sheet name="%s" sheetId="1" r:id="rId1"/></sheets></workbook>`
	workbookRels = `<Relationships xmlns="` + nsPkgRel + `">` +
		`<Relationship Id="rId1" Type="` + nsRel + `/worksheet" Target="worksheets/sheet1.xml"/>` +
		`<Relationship Id="rId2" Type="` + nsRel + `/styles" Target="styles.xml"/></Relationships>`
	// cell style 0 is the default, 1 the header: bold on #E4E7EB (the
	// fills 0 and 1 are the two every workbook must begin with)
	styles = `<styleSheet xmlns="` + nsMain + `">` +
		`<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>` +
		`<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>` +
		`<fill><patternFill patternType="solid"><fgColor rgb="FFE4E7EB"/><bgColor indexed="64"/></patternFill></fill></fills>` +
		`<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>` +
		`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>` +
		`<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>` +
		`<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/></cellXfs>` +
		`<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>`
)
