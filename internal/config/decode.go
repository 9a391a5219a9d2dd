package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxProblems bounds how many problems one file reports; past it the rest
// are summarised in one line.
const maxProblems = 100

// maxMergeDepth bounds nested YAML merge keys (<<), which may form cycles.
const maxMergeDepth = 16

// position is where a node starts in the file.
type position struct{ line, col int }

func posOf(n *yaml.Node) position { return position{n.Line, n.Column} }

// decoder turns a yaml.Node tree into Go values strictly: unknown keys,
// wrong types, duplicate keys and bad ${VAR} references are problems, and
// decoding goes on after each one so that every problem is reported. It
// records where each field path was found so that later problems (from
// Validate) can point into the file too.
//
// A decoder is used once, by one goroutine.
type decoder struct {
	file   string
	getenv func(string) string

	problems []Problem
	dropped  int
	// failed holds the paths that had a decoding problem; Validate's
	// problems under them are noise and are left out.
	failed map[string]bool
	// valuePos and keyPos map a field path to its value and key nodes.
	valuePos map[string]position
	keyPos   map[string]position
}

func newDecoder(file string, getenv func(string) string) *decoder {
	return &decoder{
		file:     file,
		getenv:   getenv,
		failed:   make(map[string]bool),
		valuePos: make(map[string]position),
		keyPos:   make(map[string]position),
	}
}

func (d *decoder) add(p Problem) {
	if len(d.problems) >= maxProblems {
		d.dropped++
		return
	}
	d.problems = append(d.problems, p)
}

// fail records a decoding problem at node n for path.
func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.failed[path] = true
	d.add(Problem{File: d.file, Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// locate fills in the position of a problem found after decoding, using
// the nearest enclosing path that was seen in the file.
func (d *decoder) locate(p *Problem) {
	for path, first := p.Path, true; ; first = false {
		if pos, ok := d.valuePos[path]; ok && !(first && p.atKey) {
			p.Line, p.Column = pos.line, pos.col
			return
		}
		// For a path that is missing from the file, point at the key of
		// its parent (the line that should have held it).
		if pos, ok := d.keyPos[path]; ok {
			p.Line, p.Column = pos.line, pos.col
			return
		}
		if path == "" {
			return
		}
		path = parentPath(path)
	}
}

// underFailed reports whether path is, or is inside, a path that already
// had a decoding problem.
func (d *decoder) underFailed(path string) bool {
	for {
		if d.failed[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

// joinPath appends a key to a field path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// indexPath appends a list index to a field path.
func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// parentPath drops the last element of a field path. Keys may themselves
// contain dots (model names such as gpt-4.1); stepping through the
// resulting non-paths is harmless because they are simply not found.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

var durationType = reflect.TypeFor[time.Duration]()

// resolveAlias follows an alias to the node it names.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for range 8 {
		if n.Kind != yaml.AliasNode || n.Alias == nil {
			return n
		}
		n = n.Alias
	}
	return n
}

// decode stores node n into v, reporting problems under path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if _, seen := d.valuePos[path]; !seen {
		d.valuePos[path] = posOf(n)
	}
	n = resolveAlias(n)
	if n.Style&yaml.TaggedStyle != 0 && !standardTags[n.ShortTag()] {
		d.fail(n, path, "unsupported tag %s; read the environment with ${VAR} instead", n.Tag)
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		s, null, ok := d.scalar(n, path)
		if !ok {
			return
		}
		if null {
			v.SetZero()
			return
		}
		d.setScalar(n, s, v, path)
	case yaml.MappingNode, yaml.SequenceNode:
		d.setCollection(n, v, path)
	case yaml.AliasNode:
		d.fail(n, path, "alias *%s names no anchor", n.Value)
	default:
		d.fail(n, path, "unexpected YAML node; want %s", describeType(v.Type()))
	}
}

// standardTags are the YAML tags a value may carry explicitly.
var standardTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!map": true, "!!seq": true,
}

// nullValues are the plain scalars YAML reads as null.
var nullValues = map[string]bool{"": true, "~": true, "null": true, "Null": true, "NULL": true}

// scalar returns the text of a scalar value with ${VAR} references
// expanded, and whether the value is null: written as null, ~ or nothing,
// or made only of references that expanded to nothing. An unset variable
// thus means "use the default" for every field.
func (d *decoder) scalar(n *yaml.Node, path string) (s string, null, ok bool) {
	quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
	tagged := n.Style&yaml.TaggedStyle != 0
	if tagged && n.ShortTag() == "!!null" || !quoted && !tagged && nullValues[n.Value] {
		return "", true, true
	}
	s, err := expand(n.Value, d.getenv)
	if err != nil {
		if secretPath(path) && err != errUnterminated {
			err = errBadRef // the text may be a secret: do not echo it
		}
		d.fail(n, path, "%v", err)
		return "", false, false
	}
	if s == "" && strings.Contains(n.Value, "${") {
		return "", true, true
	}
	return s, false, true
}

// setScalar stores the scalar text s (from node n) into v.
func (d *decoder) setScalar(n *yaml.Node, s string, v reflect.Value, path string) {
	t := v.Type()
	if t == durationType {
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.fail(n, path, "want a duration like \"30s\" or \"5m\", got %q", s)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem := reflect.New(t.Elem())
		d.setScalar(n, s, elem.Elem(), path)
		v.Set(elem)
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, ok := parseBool(s)
		if !ok {
			d.fail(n, path, "want true or false, got %q", s)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := parseInt(s, t.Bits())
		if err != nil {
			d.fail(n, path, "want an integer, got %q%s", s, rangeHint(err))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(intDigits(s), intBase(s), t.Bits())
		if err != nil {
			d.fail(n, path, "want a non-negative integer, got %q%s", s, rangeHint(err))
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, t.Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(n, path, "want a number, got %q", s)
			return
		}
		v.SetFloat(f)
	case reflect.Slice:
		d.fail(n, path, "want a list, got %q; write [%s]", s, s)
	default:
		d.fail(n, path, "want %s, got %q", describeType(t), s)
	}
}

// parseInt reads a YAML integer: decimal (a leading 0 does not make it
// octal), or 0x, 0o or 0b prefixed; _ may separate digits.
func parseInt(s string, bits int) (int64, error) {
	return strconv.ParseInt(intDigits(s), intBase(s), bits)
}

func intBase(s string) int {
	s = strings.TrimLeft(s, "+-")
	if len(s) > 1 && s[0] == '0' && strings.IndexByte("xXoObB", s[1]) >= 0 {
		return 0
	}
	return 10
}

func intDigits(s string) string {
	if intBase(s) == 10 {
		return strings.ReplaceAll(s, "_", "")
	}
	return s
}

func rangeHint(err error) string {
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return " (out of range)"
	}
	return ""
}

// parseBool accepts YAML 1.2 booleans and the YAML 1.1 words people still
// write in configs.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	return false, false
}

// setCollection stores a mapping or sequence node into v.
func (d *decoder) setCollection(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		elem := reflect.New(t.Elem())
		d.setCollection(n, elem.Elem(), path)
		v.Set(elem)
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct && t != durationType:
		d.setStruct(n, v, path)
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		d.setMap(n, v, path)
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), indexPath(path, i))
		}
		v.Set(s)
	default:
		got := "a mapping"
		if n.Kind == yaml.SequenceNode {
			got = "a list"
		}
		d.fail(n, path, "want %s, got %s", describeType(t), got)
	}
}

// describeType names what a field wants, for messages.
func describeType(t reflect.Type) string {
	if t == durationType {
		return `a duration like "30s" or "5m"`
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping (key: value)"
	}
	return t.String()
}

// entry is one key: value pair of a mapping, after merge keys are applied.
type entry struct {
	key, value *yaml.Node
	name       string
}

// entries lists the pairs of mapping n, reporting duplicate and non-string
// keys. Pairs pulled in with YAML merge keys (<<: *anchor) come after the
// explicit ones and never override them.
func (d *decoder) entries(n *yaml.Node, path string) []entry {
	var out []entry
	seen := make(map[string]*yaml.Node)
	var merged []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "mapping keys must be plain strings")
			continue
		}
		if k.Value == "<<" && k.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
			merged = d.merge(val, path, merged, map[*yaml.Node]bool{n: true}, 0)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k, joinPath(path, k.Value), "duplicate key %q (first at line %d); remove one", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, entry{key: k, value: val, name: k.Value})
	}
	for _, e := range merged {
		if _, dup := seen[e.name]; dup {
			continue
		}
		seen[e.name] = e.key
		out = append(out, e)
	}
	return out
}

// merge appends the pairs of the merge value v (a mapping or a list of
// mappings, usually aliases) to into, earlier sources winning.
func (d *decoder) merge(v *yaml.Node, path string, into []entry, visited map[*yaml.Node]bool, depth int) []entry {
	v = resolveAlias(v)
	if depth > maxMergeDepth {
		d.fail(v, path, "merge keys (<<) nest too deeply")
		return into
	}
	switch v.Kind {
	case yaml.MappingNode:
		if visited[v] {
			return into
		}
		visited[v] = true
		have := make(map[string]bool, len(into))
		for _, e := range into {
			have[e.name] = true
		}
		var nested []entry
		for i := 0; i+1 < len(v.Content); i += 2 {
			k := resolveAlias(v.Content[i])
			if k.Kind != yaml.ScalarNode {
				d.fail(k, path, "mapping keys must be plain strings")
				continue
			}
			if k.Value == "<<" && k.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
				nested = d.merge(v.Content[i+1], path, nested, visited, depth+1)
				continue
			}
			if !have[k.Value] {
				have[k.Value] = true
				into = append(into, entry{key: k, value: v.Content[i+1], name: k.Value})
			}
		}
		for _, e := range nested {
			if !have[e.name] {
				have[e.name] = true
				into = append(into, e)
			}
		}
		return into
	case yaml.SequenceNode:
		for _, item := range v.Content {
			if item = resolveAlias(item); item.Kind != yaml.MappingNode {
				d.fail(item, path, "merge key << wants a mapping or a list of mappings")
				continue
			}
			into = d.merge(item, path, into, visited, depth+1)
		}
		return into
	}
	d.fail(v, path, "merge key << wants a mapping or a list of mappings")
	return into
}

// setMap decodes a mapping into a map with string keys. Each value starts
// as the zero value of the element type (a new struct for pointers), so
// "name:" with nothing after it is an entry with every field defaulted.
func (d *decoder) setMap(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	m := v
	if m.IsNil() {
		m = reflect.MakeMapWithSize(t, len(n.Content)/2)
	}
	for _, e := range d.entries(n, path) {
		p := joinPath(path, e.name)
		d.keyPos[p] = posOf(e.key)
		elem := reflect.New(t.Elem()).Elem()
		if t.Elem().Kind() == reflect.Pointer {
			elem.Set(reflect.New(t.Elem().Elem()))
		}
		d.decode(e.value, elem, p)
		if t.Elem().Kind() == reflect.Pointer && elem.IsNil() {
			elem.Set(reflect.New(t.Elem().Elem()))
		}
		m.SetMapIndex(reflect.ValueOf(e.name).Convert(t.Key()), elem)
	}
	v.Set(m)
}

// field is a struct field reachable from YAML.
type field struct {
	name  string
	index int
}

// yamlFields lists the fields of struct type t by YAML key, skipping
// unexported fields and those tagged yaml:"-".
func yamlFields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fs = append(fs, field{name: name, index: i})
	}
	return fs
}

// setStruct decodes a mapping into a struct; keys that name no field are
// problems, with a suggestion when one is close.
func (d *decoder) setStruct(n *yaml.Node, v reflect.Value, path string) {
	fs := yamlFields(v.Type())
	for _, e := range d.entries(n, path) {
		p := joinPath(path, e.name)
		i := -1
		for _, f := range fs {
			if f.name == e.name {
				i = f.index
				break
			}
		}
		if i < 0 {
			d.fail(e.key, p, "%s", unknownKeyMsg(e.name, fs))
			continue
		}
		d.keyPos[p] = posOf(e.key)
		d.decode(e.value, v.Field(i), p)
	}
}

func unknownKeyMsg(key string, fs []field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	if s := suggest(key, names); s != "" {
		return fmt.Sprintf("unknown key %q; did you mean %s?", key, s)
	}
	return fmt.Sprintf("unknown key %q; known keys are %s", key, strings.Join(names, ", "))
}

// suggest returns the candidate closest to key, or "" when none is close
// enough to be a likely typo.
func suggest(key string, candidates []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	nk := norm(key)
	best, bestDist := "", 0
	for _, c := range candidates {
		if norm(c) == nk {
			return c
		}
		dist := editDistance(strings.ToLower(key), c)
		limit := 1 + min(len(key), len(c))/4
		if dist <= limit && (best == "" || dist < bestDist) {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b
// (Levenshtein plus adjacent transpositions), counted in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b))
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// secretPath reports whether the field at path holds a secret, whose text
// must not appear in messages.
func secretPath(path string) bool {
	last := path[strings.LastIndexByte(path, '.')+1:]
	return last == "api_key" || last == "master_key" || last == "dsn" ||
		strings.Contains(path, ".headers.") && sensitiveName(last)
}
