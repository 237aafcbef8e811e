// Package templates embeds the mail templates, the i18n catalogues, the web
// pages (layouts, partials, pages) and their static assets, so the binary
// needs no files beside it.
package templates

import "embed"

//go:embed mail i18n layouts partials pages static
var files embed.FS

// FS returns the embedded templates.
func FS() embed.FS { return files }
