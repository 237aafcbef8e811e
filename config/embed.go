// Package config embeds the default configuration so the binary runs with
// no file at all.
package config

import _ "embed"

//go:embed default.yaml
var defaultYAML []byte

// Default returns a copy of config/default.yaml.
func Default() []byte { return append([]byte(nil), defaultYAML...) }
