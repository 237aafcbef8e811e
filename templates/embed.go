// Package templates embeds the mail templates and the i18n catalogues
// (and, later, the web pages), so the binary needs no files beside it.
package templates

import "embed"

//go:embed mail i18n
var files embed.FS

// FS returns the embedded templates.
func FS() embed.FS { return files }
