package governance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// BudgetEvent is the JSON body of a budget webhook call (POST to
// governance.budget_webhook).
type BudgetEvent struct {
	// Event is "budget.soft_limit": spend passed the soft threshold.
	Event string `json:"event"`
	// Scope is "key" or "team"; ID the key id or team name.
	Scope string `json:"scope"`
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"` // the key's name
	Team  string `json:"team,omitempty"` // the key's team
	// Period and the budget's numbers when the threshold was passed.
	Period    string     `json:"period"`
	SpentUSD  float64    `json:"spent_usd"`
	BudgetUSD float64    `json:"budget_usd"`
	Threshold float64    `json:"threshold"` // the soft budget, a share of the budget
	ResetsAt  *time.Time `json:"resets_at,omitempty"`
	Time      time.Time  `json:"time"`
}

// notifyQueue bounds the events waiting for delivery.
const notifyQueue = 256

// notifier delivers budget events to the webhook from one goroutine, owned
// by Governor.Run. Without a URL it delivers nothing. It is safe for
// concurrent use.
type notifier struct {
	url     string
	client  *http.Client
	timeout time.Duration
	log     *slog.Logger
	met     *govMetrics
	q       chan BudgetEvent
}

func newNotifier(url string, client *http.Client, timeout time.Duration, log *slog.Logger, met *govMetrics) *notifier {
	return &notifier{url: url, client: client, timeout: timeout, log: log, met: met, q: make(chan BudgetEvent, notifyQueue)}
}

// send queues ev for delivery, or drops it (logged and counted) when the
// queue is full.
func (n *notifier) send(ev BudgetEvent) {
	if n.url == "" {
		return
	}
	select {
	case n.q <- ev:
	default:
		n.met.webhookDropped.Inc()
		n.log.Warn("budget webhook queue is full: event dropped", "scope", ev.Scope, "id", ev.ID)
	}
}

// run delivers events until ctx is done, then delivers those still queued
// (within 15s) and returns.
func (n *notifier) run(ctx context.Context) {
	for {
		select {
		case ev := <-n.q:
			n.post(context.Background(), ev)
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			for {
				select {
				case ev := <-n.q:
					n.post(dctx, ev)
				default:
					return
				}
			}
		}
	}
}

func (n *notifier) post(ctx context.Context, ev BudgetEvent) {
	if err := n.deliver(ctx, ev); err != nil {
		n.met.webhookFailed.Inc()
		n.log.Warn("budget webhook failed", "scope", ev.Scope, "id", ev.ID, "err", err)
	}
}

func (n *notifier) deliver(ctx context.Context, ev BudgetEvent) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "llmgate")
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered HTTP %d", resp.StatusCode)
	}
	return nil
}
