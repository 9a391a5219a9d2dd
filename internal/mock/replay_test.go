package mock

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReplay(t *testing.T) {
	u, err := NewReplay()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, body, want string }{
		{"/v1/chat/completions", `{"model":"x"}`, `"object":"chat.completion"`},
		{"/v1/chat/completions", `{"model":"x","stream":true}`, "data: [DONE]"},
		{"/v1/messages", `{"model":"x"}`, `"type":"message"`},
		{"/v1/messages", `{"model":"x","stream":true}`, "event: message_stop"},
	} {
		w := httptest.NewRecorder()
		u.ServeHTTP(w, httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body)))
		if w.Code != 200 || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("%s %s: %d, want %s in:\n%s", tt.path, tt.body, w.Code, tt.want, w.Body)
		}
	}
}
