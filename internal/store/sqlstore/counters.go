package sqlstore

import (
	"cmp"
	"slices"
)

// CounterID names one spend counter row: its scope, subject and period
// start (µs since the epoch, UTC).
type CounterID struct {
	Scope, Subject string
	StartUS        int64
}

// SortedCounters returns the counters charges names in lock order (scope,
// subject, start), so that concurrent transactions lock the same rows in
// the same order and cannot deadlock.
func SortedCounters(charges map[CounterID]int64) []CounterID {
	ids := make([]CounterID, 0, len(charges))
	for id := range charges {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b CounterID) int {
		return cmp.Or(cmp.Compare(a.Scope, b.Scope), cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.StartUS, b.StartUS))
	})
	return ids
}
