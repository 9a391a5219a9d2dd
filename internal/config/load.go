package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the configuration file at path and returns it with defaults
// applied, or an *Errors listing every problem in it (file:line:col: path:
// message). ${VAR} and ${VAR:-default} in values are expanded with getenv;
// nil getenv means an empty environment. A file that cannot be read gives
// the read error, wrapped.
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, getenv)
}

// Parse is Load for configuration text already in memory; name is used as
// the file name in problems and in Config.File.
func Parse(name string, data []byte, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = noEnv
	}
	d := newDecoder(name, getenv)
	c := &Config{File: name}
	root, syntax := parseYAML(name, data)
	if syntax != nil {
		return nil, &Errors{Problems: []Problem{*syntax}}
	}
	if root != nil {
		d.decode(root, reflect.ValueOf(c).Elem(), "")
		delete(d.valuePos, "") // a missing top-level key has no useful position
	}
	c.ApplyDefaults(getenv)
	for _, p := range c.Validate() {
		if d.underFailed(p.Path) {
			continue
		}
		d.locate(&p)
		d.add(p)
	}
	if d.dropped > 0 {
		d.problems = append(d.problems, Problem{File: name, Msg: fmt.Sprintf("and %d more problems", d.dropped)})
	}
	if len(d.problems) > 0 {
		sortProblems(d.problems)
		return nil, &Errors{Problems: d.problems}
	}
	return c, nil
}

// parseYAML parses one YAML document into a node tree. It returns nil for
// an empty document, and a problem for a syntax error or a second document.
func parseYAML(name string, data []byte) (root *yaml.Node, p *Problem) {
	defer func() {
		// The YAML parser reports errors by panicking internally and
		// recovers them itself; this is only a net against its bugs.
		if r := recover(); r != nil {
			root, p = nil, &Problem{File: name, Msg: fmt.Sprintf("cannot parse YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(protectRefs(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxProblem(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Problem{File: name, Line: extra.Line, Column: extra.Column,
			Msg: "a second YAML document; the config is one document, remove the extra ---"}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxProblem(name, err)
	}
	restoreRefs(&doc)
	n := &doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, nil
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, nil
	}
	if resolveAlias(n).Kind != yaml.MappingNode {
		return nil, &Problem{File: name, Line: n.Line, Column: n.Column,
			Msg: "the config must be a mapping of settings (listen:, providers:, models:, ...)"}
	}
	return n, nil
}

// syntaxProblem turns a YAML parser error ("yaml: line 3: mapping values
// are not allowed in this context") into a problem at that line.
func syntaxProblem(name string, err error) *Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := &Problem{File: name}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil {
				p.Line, msg = line, after
			}
		}
	}
	p.Msg = "invalid YAML: " + msg
	return p
}
