package activity

import "io"

// Put stores a file as evidence is stored (sniffed type, size limit,
// random name), for other packages that keep files (rectification
// reports). The caller removes it with Remove if its database write fails.
func (f *Files) Put(r io.Reader, limit int64) (key, ctype string, size int64, sum string, err error) {
	return f.put(r, limit)
}

// Remove deletes a stored file.
func (f *Files) Remove(key string) { f.remove(key) }

// CleanName keeps a displayable original file name.
func CleanName(name string) string { return cleanName(name) }
