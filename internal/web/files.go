package web

import (
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// serveStored sends a file that a user uploaded (evidence, a signed
// agreement, a rectification report's attachment). Uploaded files are
// served from the app's origin: a sandbox CSP keeps a polyglot from running
// script here, nosniff keeps the browser to the type sniffed at upload, and
// only images are shown inline (a PDF is downloaded, not rendered by the
// browser's viewer in our origin). fallback is the ASCII file name for
// browsers that ignore filename* (RFC 6266/5987 keeps Chinese names).
func serveStored(c echo.Context, contentType, name, fallback string, body io.Reader) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, contentType)
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'")
	h.Set("X-Content-Type-Options", "nosniff")
	disposition := "attachment"
	if strings.HasPrefix(contentType, "image/") {
		disposition = "inline"
	}
	h.Set(echo.HeaderContentDisposition, disposition+"; filename=\""+fallback+"\"; filename*=UTF-8''"+url.PathEscape(name))
	h.Set("Cache-Control", "private, max-age=3600")
	c.Response().WriteHeader(http.StatusOK)
	_, err := io.Copy(c.Response(), body)
	return err
}
