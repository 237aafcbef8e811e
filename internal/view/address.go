package view

import (
	"mime"
	"net/mail"
)

// Recipient shows a stored address header ("=?utf-8?q?...?= <a@b>", as
// the outbox keeps it) as a reader writes it: "张三 <a@b>". What does not
// parse is shown as it is.
func Recipient(header string) string {
	a, err := (&mail.AddressParser{WordDecoder: &mime.WordDecoder{}}).Parse(header)
	if err != nil {
		return header
	}
	if a.Name == "" {
		return a.Address
	}
	return a.Name + " <" + a.Address + ">"
}
