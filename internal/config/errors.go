package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration: where it is and what to
// do about it. Line and Column are 1-based; 0 means unknown (a value that
// came from a default, or a config built in code).
type Problem struct {
	File   string
	Line   int
	Column int
	// Path names the field at fault, e.g. providers.openai.base_url or
	// models.gpt-4o.route[1]; "" for problems with the file as a whole.
	Path string
	// Msg says what is wrong and how to fix it.
	Msg string

	// atKey asks Load to point at the mapping key of Path rather than its
	// value (e.g. for a badly spelled provider name).
	atKey bool
}

// String formats the problem as "file:line:col: path: message", leaving
// out the parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Line))
			if p.Column > 0 {
				b.WriteByte(':')
				b.WriteString(strconv.Itoa(p.Column))
			}
		}
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is every problem found in a configuration. Load and Parse return
// it (as an error) when the configuration cannot be used; callers reach it
// with errors.As to print or inspect the problems one by one.
type Errors struct {
	Problems []Problem
}

// Error prints one problem per line, in file order.
func (e *Errors) Error() string {
	if e == nil || len(e.Problems) == 0 {
		return "config: no problems"
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// AsError returns nil for no problems, else an *Errors holding them sorted
// by position. It is how callers turn Validate's result into an error.
func AsError(problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	ps := slices.Clone(problems)
	sortProblems(ps)
	return &Errors{Problems: ps}
}

// sortProblems orders problems by line and column; problems without a
// position keep their relative order and go last.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Column, b.Column)
	})
}
