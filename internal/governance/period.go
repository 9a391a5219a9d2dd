package governance

import (
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

// Period is how often a budget resets. Periods are calendar periods in UTC.
type Period string

// Budget periods. Hourly is used by the gateway-wide spend guard only.
const (
	Hourly  Period = "hourly"
	Daily   Period = "daily"   // at 00:00 UTC
	Weekly  Period = "weekly"  // on Mondays at 00:00 UTC
	Monthly Period = "monthly" // on the 1st at 00:00 UTC
	Total   Period = "total"   // never
)

// validBudgetPeriod reports whether p may be a key or team budget period.
func validBudgetPeriod(p Period) bool {
	switch p {
	case Daily, Weekly, Monthly, Total:
		return true
	}
	return false
}

// Start is the start of the period that contains t; store.Epoch for Total.
func (p Period) Start(t time.Time) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	switch p {
	case Hourly:
		return t.Truncate(time.Hour)
	case Daily:
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case Weekly:
		wd := (int(t.Weekday()) + 6) % 7 // Monday = 0
		return time.Date(y, m, d-wd, 0, 0, 0, 0, time.UTC)
	case Monthly:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	}
	return store.Epoch
}

// End is when the period that started at start ends (the next reset); the
// zero time for Total.
func (p Period) End(start time.Time) time.Time {
	switch p {
	case Hourly:
		return start.Add(time.Hour)
	case Daily:
		return start.AddDate(0, 0, 1)
	case Weekly:
		return start.AddDate(0, 0, 7)
	case Monthly:
		return start.AddDate(0, 1, 0)
	}
	return time.Time{}
}

// noun is the period as an adjective for messages ("daily budget").
func (p Period) noun() string {
	if p == Total {
		return "total"
	}
	return string(p)
}
