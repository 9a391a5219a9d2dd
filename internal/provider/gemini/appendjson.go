package gemini

import (
	"strconv"
)

// appendIntField appends ,"name":v (or "name":v when first is true).
func appendIntField(dst []byte, name string, v int, first bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return strconv.AppendInt(dst, int64(v), 10)
}
