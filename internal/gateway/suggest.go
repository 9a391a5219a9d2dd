package gateway

import (
	"cmp"
	"slices"
	"strings"
)

// closest returns up to n of names nearest to model, nearest first: names
// that contain it or that it contains, then by edit distance, ignoring
// case. Names too far away to be a plausible typo are left out.
func closest(model string, names []string, n int) []string {
	q := strings.ToLower(model)
	type scored struct {
		name string
		d    int
	}
	var out []scored
	for _, name := range names {
		c := strings.ToLower(name)
		d := editDistance(q, c)
		if strings.Contains(c, q) || strings.Contains(q, c) {
			d = min(d, 1+abs(len(c)-len(q))/4) // a version suffix, a missing prefix
		}
		if d <= max(2, len(q)/2) {
			out = append(out, scored{name, d})
		}
	}
	slices.SortFunc(out, func(a, b scored) int {
		return cmp.Or(cmp.Compare(a.d, b.d), cmp.Compare(len(a.name), len(b.name)), strings.Compare(a.name, b.name))
	})
	res := make([]string, 0, min(n, len(out)))
	for i := 0; i < len(out) && i < n; i++ {
		res = append(res, out[i].name)
	}
	return res
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// editDistance is the optimal-string-alignment distance between a and b,
// by bytes: insertions, deletions, substitutions and swaps of neighbours
// (the commonest typo) cost 1 each.
func editDistance(a, b string) int {
	rows := [3][]int{make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)}
	for j := range rows[1] {
		rows[1][j] = j
	}
	for i := 1; i <= len(a); i++ {
		pp, prev, cur := rows[0], rows[1], rows[2]
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
		rows[0], rows[1], rows[2] = prev, cur, pp
	}
	return rows[1][len(b)]
}
