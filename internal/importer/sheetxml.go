package importer

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"html"
	"io"
	"path"
	"strconv"
	"strings"
)

// A reader of the parts of an .xlsx the import needs (sheet names, shared
// strings, cell values), scanning the XML bytes directly: excelize's
// reader decodes every cell through encoding/xml, which costs most of a
// province workbook's check (4 of 5.5 s of CPU for 3,000 pairs). Values
// come out as excelize's RawCellValue gives them (a date is its serial
// number). Anything it does not understand is an error, and the import
// then reads the workbook with excelize instead.

// maxColumns is Excel's limit (XFD).
const maxColumns = 16384

var errUnsupported = errors.New("importer: workbook layout not understood by the fast reader")

type xlsx struct {
	zr     *zip.Reader
	sheets []xlsxSheet
	shared []string
}

type xlsxSheet struct{ name, file string }

func openXLSX(raw []byte) (*xlsx, error) {
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, err
	}
	x := &xlsx{zr: zr}
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			RID  string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := x.unmarshal("xl/workbook.xml", &wb); err != nil {
		return nil, err
	}
	var rels struct {
		Rel []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
			Type   string `xml:"Type,attr"`
		} `xml:"Relationship"`
	}
	if err := x.unmarshal("xl/_rels/workbook.xml.rels", &rels); err != nil {
		return nil, err
	}
	target := map[string]string{}
	sharedPath := ""
	for _, r := range rels.Rel {
		p := r.Target
		if strings.HasPrefix(p, "/") {
			p = strings.TrimPrefix(p, "/")
		} else {
			p = path.Join("xl", p)
		}
		target[r.ID] = p
		if strings.HasSuffix(r.Type, "/sharedStrings") {
			sharedPath = p
		}
	}
	for _, s := range wb.Sheets {
		if target[s.RID] == "" {
			return nil, errUnsupported
		}
		x.sheets = append(x.sheets, xlsxSheet{name: s.Name, file: target[s.RID]})
	}
	if sharedPath != "" {
		f, err := x.open(sharedPath)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if x.shared, err = readShared(bufio.NewReaderSize(f, 64<<10)); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func (x *xlsx) open(name string) (io.ReadCloser, error) {
	for _, f := range x.zr.File {
		if f.Name == name {
			return f.Open()
		}
	}
	return nil, errUnsupported
}

func (x *xlsx) unmarshal(name string, v any) error {
	f, err := x.open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return xml.NewDecoder(f).Decode(v)
}

// tag is one XML tag as scanned: its local name, whether it closes or is
// empty (<x/>), and its attributes (raw).
type tag struct {
	name        string
	closing     bool
	selfClosing bool
	attrs       []byte
}

func (t tag) attr(name string) string {
	a := t.attrs
	for len(a) > 0 {
		i := bytes.IndexByte(a, '=')
		if i < 0 {
			return ""
		}
		key := string(bytes.TrimSpace(a[:i]))
		if j := strings.IndexByte(key, ':'); j >= 0 {
			key = key[j+1:]
		}
		rest := bytes.TrimLeft(a[i+1:], " \t\r\n")
		if len(rest) == 0 || (rest[0] != '"' && rest[0] != '\'') {
			return ""
		}
		end := bytes.IndexByte(rest[1:], rest[0])
		if end < 0 {
			return ""
		}
		if key == name {
			return html.UnescapeString(string(rest[1 : end+1]))
		}
		a = rest[end+2:]
	}
	return ""
}

// scanner walks tags and the text between them.
type scanner struct {
	r   *bufio.Reader
	buf []byte
}

// next returns the text before the next tag and the tag; io.EOF at the end.
func (s *scanner) next() (text []byte, t tag, err error) {
	s.buf = s.buf[:0]
	for {
		chunk, err := s.r.ReadSlice('<')
		s.buf = append(s.buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, t, err
		}
		break
	}
	textLen := len(s.buf) - 1
	for {
		chunk, err := s.r.ReadSlice('>')
		s.buf = append(s.buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, t, err
		}
		break
	}
	text, raw := s.buf[:textLen], s.buf[textLen+1:len(s.buf)-1]
	switch {
	case len(raw) > 0 && (raw[0] == '?' || raw[0] == '!'):
		if bytes.HasPrefix(raw, []byte("![CDATA[")) || bytes.HasPrefix(raw, []byte("!--")) && !bytes.HasSuffix(raw, []byte("--")) {
			return nil, t, errUnsupported // CDATA and comments with '>' inside: leave them to excelize
		}
		t.name = "?"
		return text, t, nil
	case len(raw) > 0 && raw[0] == '/':
		t.closing = true
		raw = raw[1:]
	}
	if n := len(raw); n > 0 && raw[n-1] == '/' {
		t.selfClosing = true
		raw = raw[:n-1]
	}
	end := bytes.IndexAny(raw, " \t\r\n")
	if end < 0 {
		end = len(raw)
	}
	name := raw[:end]
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	t.name, t.attrs = string(name), raw[end:]
	return text, t, nil
}

func unescape(b []byte) string {
	if bytes.IndexByte(b, '&') < 0 {
		return string(b)
	}
	return html.UnescapeString(string(b))
}

// readShared reads sharedStrings.xml: the text of each <si>, its runs
// joined, phonetic guides (<rPh>) left out.
func readShared(r *bufio.Reader) ([]string, error) {
	s := &scanner{r: r}
	var out []string
	var cur strings.Builder
	inSI, inT, inPh := false, false, 0
	for {
		text, t, err := s.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if inT && inPh == 0 {
			cur.WriteString(unescape(text))
		}
		switch t.name {
		case "si":
			if t.closing {
				out = append(out, cur.String())
				inSI = false
			} else if t.selfClosing {
				out = append(out, "")
			} else {
				inSI = true
				cur.Reset()
			}
		case "t":
			inT = inSI && !t.closing && !t.selfClosing
		case "rPh":
			if t.closing {
				inPh--
			} else if !t.selfClosing {
				inPh++
			}
		}
	}
}

// colIndex turns the letters of a cell reference ("AB12") into a 0-based
// column.
func colIndex(ref string) int {
	n := 0
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c < 'A' || c > 'Z' {
			break
		}
		n = n*26 + int(c-'A'+1)
	}
	return n - 1
}

func rowOf(ref string) int {
	i := strings.IndexAny(ref, "0123456789")
	if i < 0 {
		return 0
	}
	n, _ := strconv.Atoi(ref[i:])
	return n
}

// rows streams a sheet's rows: each row's number and its cells by column
// (trailing empty cells dropped), in file order.
func (x *xlsx) rows(file string, fn func(n int, cells []string) error) error {
	f, err := x.open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	s := &scanner{r: bufio.NewReaderSize(f, 256<<10)}
	var cells []string
	rowNum, col := 0, 0
	var cellType string
	var val strings.Builder
	inRow, inCell, inV, inIS, inT, inPh := false, false, false, false, false, 0
	flushCell := func() error {
		v := val.String()
		switch cellType {
		case "s":
			i, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || i < 0 || i >= len(x.shared) {
				return errUnsupported
			}
			v = x.shared[i]
		}
		for len(cells) <= col {
			cells = append(cells, "")
		}
		cells[col] = v
		return nil
	}
	for {
		text, t, err := s.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if (inV || (inIS && inT && inPh == 0)) && len(text) > 0 {
			val.WriteString(unescape(text))
		}
		switch t.name {
		case "row":
			switch {
			case t.closing:
				if err := fn(rowNum, cells); err != nil {
					return err
				}
				inRow = false
			default:
				if r := t.attr("r"); r != "" {
					rowNum, _ = strconv.Atoi(r)
				} else {
					rowNum++
				}
				cells, col = cells[:0], -1
				if t.selfClosing {
					if err := fn(rowNum, cells); err != nil {
						return err
					}
				} else {
					inRow = true
				}
			}
		case "c":
			if !inRow {
				return errUnsupported
			}
			if t.closing {
				if err := flushCell(); err != nil {
					return err
				}
				inCell = false
				continue
			}
			if r := t.attr("r"); r != "" {
				col = colIndex(r)
				if col < 0 || col >= maxColumns {
					return errUnsupported
				}
				if rr := rowOf(r); rr != rowNum {
					return errUnsupported
				}
			} else if col++; col >= maxColumns {
				return errUnsupported
			}
			cellType = t.attr("t")
			val.Reset()
			inCell = !t.selfClosing
		case "v":
			inV = inCell && !t.closing && !t.selfClosing
		case "is":
			inIS = inCell && !t.closing && !t.selfClosing
		case "t":
			inT = inIS && !t.closing && !t.selfClosing
		case "rPh":
			if t.closing {
				inPh--
			} else if !t.selfClosing {
				inPh++
			}
		case "f":
			// a formula: its cached <v> is the value, as with excelize
		}
	}
}
