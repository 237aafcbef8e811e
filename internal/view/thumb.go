package view

import (
	"bufio"
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"

	_ "image/gif" // evidence photos and scans
	_ "image/png"
)

// MaxThumbSourcePixels bounds what Thumbnail decodes (a 50-megapixel
// photo); larger images get no thumbnail.
const MaxThumbSourcePixels = 50_000_000

// ErrNoThumbnail means the file is not an image Thumbnail can scale.
var ErrNoThumbnail = errors.New("view: no thumbnail for this file")

// Thumbnail decodes a JPEG, PNG or GIF and returns a JPEG whose longer side
// is at most size pixels, averaging the source pixels of each target pixel
// (a box filter: sharp enough for a 160-pixel preview, no dependencies).
func Thumbnail(r io.Reader, size int) ([]byte, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(64 << 10)
	cfg, _, err := image.DecodeConfig(bytes.NewReader(head))
	if err != nil {
		return nil, ErrNoThumbnail
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxThumbSourcePixels {
		return nil, ErrNoThumbnail
	}
	src, _, err := image.Decode(br)
	if err != nil {
		return nil, ErrNoThumbnail
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	tw, th := w, h
	if w > size || h > size {
		if w >= h {
			tw, th = size, max(1, h*size/w)
		} else {
			tw, th = max(1, w*size/h), size
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	for y := 0; y < th; y++ {
		y0, y1 := b.Min.Y+y*h/th, b.Min.Y+(y+1)*h/th
		if y1 <= y0 {
			y1 = y0 + 1
		}
		for x := 0; x < tw; x++ {
			x0, x1 := b.Min.X+x*w/tw, b.Min.X+(x+1)*w/tw
			if x1 <= x0 {
				x1 = x0 + 1
			}
			var rs, gs, bs, n uint64
			// sample at most 8×8 source pixels per target pixel
			sy := max(1, (y1-y0)/8)
			sx := max(1, (x1-x0)/8)
			for yy := y0; yy < y1; yy += sy {
				for xx := x0; xx < x1; xx += sx {
					c := color.RGBAModel.Convert(src.At(xx, yy)).(color.RGBA)
					// flatten transparency onto white
					a := uint64(c.A)
					rs += uint64(c.R) + (255 - a)
					gs += uint64(c.G) + (255 - a)
					bs += uint64(c.B) + (255 - a)
					n++
				}
			}
			dst.SetRGBA(x, y, color.RGBA{uint8(rs / n), uint8(gs / n), uint8(bs / n), 255})
		}
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: 75}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
