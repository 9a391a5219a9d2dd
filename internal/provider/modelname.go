package provider

import (
	"fmt"
	"strings"
)

// MaxModelName is the longest model name accepted (bytes). Real names are
// well under 100; the cap keeps invented names from bloating logs and maps.
const MaxModelName = 256

// CheckModelName reports why name cannot be sent to an upstream, as a
// KindBadRequest *Error on param "model", or nil when it can. It rejects
// what could change the meaning of an upstream URL or a log line: control
// characters, '%' (an encoded separator such as %2F or %2E), backslash,
// '?', '#', and "." or ".." segments or empty segments between slashes. Slashes
// themselves are allowed (OpenRouter and Together name models
// "vendor/model"); CheckPathModel is stricter for formats that put the
// model in the URL path.
func CheckModelName(name string) *Error {
	if name == "" {
		return nil // "no model" has its own message
	}
	if len(name) > MaxModelName {
		return badModel(name, fmt.Sprintf("it is longer than %d bytes", MaxModelName))
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c < 0x20 || c == 0x7f:
			return badModel(name, "it contains a control character")
		case c == '%' || c == '\\' || c == '?' || c == '#':
			return badModel(name, fmt.Sprintf("it contains %q", c))
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch seg {
		case "":
			return badModel(name, "it has an empty path segment")
		case ".", "..":
			return badModel(name, fmt.Sprintf("it has a %q segment", seg))
		}
	}
	return nil
}

// CheckPathModel is CheckModelName for a format that sends the model as a
// URL path segment (Gemini's /v1beta/models/{model}:generateContent): on
// top of CheckModelName's rules the name may not contain ':' (it would name
// another action) nor '/' except after a leading "models/" or
// "tunedModels/" collection.
func CheckPathModel(name string) *Error {
	if e := CheckModelName(name); e != nil {
		return e
	}
	bare := name
	for _, c := range [...]string{"models/", "tunedModels/"} {
		if rest, ok := strings.CutPrefix(name, c); ok {
			bare = rest
			break
		}
	}
	if strings.IndexByte(bare, '/') >= 0 {
		return badModel(name, "it contains '/' and this provider takes the model in the URL path")
	}
	if strings.IndexByte(bare, ':') >= 0 {
		return badModel(name, "it contains ':' and this provider takes the model in the URL path")
	}
	return nil
}

func badModel(name, why string) *Error {
	if len(name) > 80 {
		name = name[:80] + "..."
	}
	return &Error{Kind: KindBadRequest, Param: "model", Code: "invalid_model",
		Message: fmt.Sprintf("model %q is not a valid model name: %s", name, why)}
}
