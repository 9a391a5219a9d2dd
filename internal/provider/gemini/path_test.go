package gemini

import "testing"

func TestParseModelAction(t *testing.T) {
	tests := []struct {
		in            string
		model, action string
		ok            bool
	}{
		{"gemini-2.5-flash:streamGenerateContent", "gemini-2.5-flash", "streamGenerateContent", true},
		{"gemini-2.5-flash:generateContent", "gemini-2.5-flash", "generateContent", true},
		{"models/gemini-2.5-pro:countTokens", "gemini-2.5-pro", "countTokens", true},
		{"gemini-2.0-flash-001:embedContent", "gemini-2.0-flash-001", "embedContent", true},
		{"gemini-2.5-flash", "", "", false},
		{":generateContent", "", "", false},
		{"gemini-2.5-flash:", "", "", false},
		{"a:b:generateContent", "", "", false},
		{"gemini:generate-content", "", "", false},
		{"tunedModels/x:generateContent", "", "", false},
		{"my model:generateContent", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			model, action, ok := ParseModelAction(tt.in)
			if model != tt.model || action != tt.action || ok != tt.ok {
				t.Errorf("got %q %q %v, want %q %q %v", model, action, ok, tt.model, tt.action, tt.ok)
			}
		})
	}
}
