package clock

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC)

func fired(tm Timer) bool {
	select {
	case <-tm.C():
		return true
	default:
		return false
	}
}

func TestFakeTimers(t *testing.T) {
	tests := []struct {
		name    string
		d       time.Duration
		advance []time.Duration
		want    bool
	}{
		{"not yet due", time.Second, []time.Duration{999 * time.Millisecond}, false},
		{"exactly due", time.Second, []time.Duration{time.Second}, true},
		{"due after steps", time.Second, []time.Duration{400 * time.Millisecond, 600 * time.Millisecond}, true},
		{"zero fires at once", 0, nil, true},
		{"negative fires at once", -time.Second, nil, true},
		{"negative advance ignored", time.Second, []time.Duration{-time.Hour}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFake(t0)
			tm := f.NewTimer(tt.d)
			for _, d := range tt.advance {
				f.Advance(d)
			}
			if got := fired(tm); got != tt.want {
				t.Errorf("fired = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFakeFiresInDeadlineOrderWithNewTime(t *testing.T) {
	f := NewFake(t0)
	late, early := f.NewTimer(2*time.Second), f.NewTimer(time.Second)
	if f.Pending() != 2 {
		t.Fatalf("Pending = %d, want 2", f.Pending())
	}
	f.Advance(3 * time.Second)
	for _, tm := range []Timer{early, late} {
		select {
		case got := <-tm.C():
			if !got.Equal(t0.Add(3 * time.Second)) {
				t.Errorf("timer sent %v, want the new time", got)
			}
		default:
			t.Fatal("timer did not fire")
		}
	}
	if f.Pending() != 0 {
		t.Errorf("Pending = %d after firing, want 0", f.Pending())
	}
}

func TestFakeStop(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Error("first Stop = false, want true")
	}
	if tm.Stop() {
		t.Error("second Stop = true, want false")
	}
	f.Advance(time.Hour)
	if fired(tm) {
		t.Error("stopped timer fired")
	}
	tm2 := f.NewTimer(time.Second)
	f.Advance(time.Second)
	if tm2.Stop() {
		t.Error("Stop after firing = true, want false")
	}
}

func TestFakeSet(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Minute)
	f.Set(t0.Add(-time.Hour))
	if fired(tm) || !f.Now().Equal(t0.Add(-time.Hour)) {
		t.Fatal("Set backwards fired a timer or did not move the clock")
	}
	f.Set(t0.Add(time.Minute))
	if !fired(tm) {
		t.Error("Set forward past the deadline did not fire the timer")
	}
}

func TestFakeBlockUntil(t *testing.T) {
	f := NewFake(t0)
	done := make(chan error)
	go func() { done <- Sleep(context.Background(), f, time.Second) }()
	f.BlockUntil(1)
	f.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Sleep = %v", err)
	}
	f.BlockUntil(0) // already satisfied

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.BlockUntilContext(ctx, 5); !errors.Is(err, context.Canceled) {
		t.Errorf("BlockUntilContext = %v, want context.Canceled", err)
	}
}

func TestSleep(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"zero duration", context.Background(), 0, nil},
		{"already canceled", canceled, time.Hour, context.Canceled},
		{"canceled with zero duration", canceled, 0, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Sleep(tt.ctx, NewFake(t0), tt.d); !errors.Is(err, tt.want) {
				t.Errorf("Sleep = %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("canceled while waiting", func(t *testing.T) {
		f := NewFake(t0)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- Sleep(ctx, f, time.Hour) }()
		f.BlockUntil(1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Sleep = %v, want context.Canceled", err)
		}
		if f.Pending() != 0 {
			t.Errorf("Sleep left %d timers pending", f.Pending())
		}
	})
}

func TestRealClock(t *testing.T) {
	var c Clock = Real{}
	if d := time.Since(c.Now()); d < 0 || d > time.Minute {
		t.Errorf("Real.Now is off by %v", d)
	}
	if err := Sleep(context.Background(), c, time.Millisecond); err != nil {
		t.Errorf("Sleep = %v", err)
	}
	tm := c.NewTimer(time.Hour)
	if !tm.Stop() {
		t.Error("Stop of a pending real timer = false")
	}
}

func TestFakeConcurrent(t *testing.T) {
	f := NewFake(t0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				tm := f.NewTimer(time.Millisecond)
				_ = f.Now()
				tm.Stop()
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			f.Advance(time.Millisecond)
		}
	})
	wg.Wait()
}
