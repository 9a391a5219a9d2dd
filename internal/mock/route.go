package mock

import (
	"net/http"
	"strings"
)

// format is a wire format family: it decides error bodies and headers.
type format uint8

const (
	fmtOpenAI format = iota
	fmtAnthropic
	fmtGemini
)

type endpoint uint8

const (
	epUnknown endpoint = iota
	epChat
	epEmbeddings
	epResponses
	epOAModels
	epOAModel
	epMessages
	epCountTokens
	epANModels
	epANModel
	epGenerate
	epStreamGenerate
	epGMCountTokens
	epGMModels
	epGMModel
)

// route is what the URL says about a request.
type route struct {
	kind   endpoint
	format format
	method string // the method the endpoint wants
	model  string // from the path: Gemini model, or the model id of a models/{id} GET
	sse    bool   // streamGenerateContent with alt=sse
}

// parseRoute classifies r by method and path. It never allocates for the
// fixed paths.
func parseRoute(r *http.Request) route {
	p := r.URL.Path
	switch p {
	case "/v1/chat/completions":
		return route{kind: epChat, method: http.MethodPost}
	case "/v1/embeddings":
		return route{kind: epEmbeddings, method: http.MethodPost}
	case "/v1/responses":
		return route{kind: epResponses, method: http.MethodPost}
	case "/v1/messages":
		return route{kind: epMessages, format: fmtAnthropic, method: http.MethodPost}
	case "/v1/messages/count_tokens":
		return route{kind: epCountTokens, format: fmtAnthropic, method: http.MethodPost}
	case "/v1/models":
		if len(r.Header["Anthropic-Version"]) > 0 {
			return route{kind: epANModels, format: fmtAnthropic, method: http.MethodGet}
		}
		return route{kind: epOAModels, method: http.MethodGet}
	case "/v1beta/models":
		return route{kind: epGMModels, format: fmtGemini, method: http.MethodGet}
	}
	// Gemini: /v1beta/models/{model}[:action] (also /v1/models/{model}:action).
	if rest, ok := strings.CutPrefix(p, "/v1beta/models/"); ok {
		return geminiRoute(r, rest)
	}
	if rest, ok := strings.CutPrefix(p, "/v1/models/"); ok {
		if strings.IndexByte(rest, ':') >= 0 {
			return geminiRoute(r, rest)
		}
		if len(r.Header["Anthropic-Version"]) > 0 {
			return route{kind: epANModel, format: fmtAnthropic, method: http.MethodGet, model: rest}
		}
		return route{kind: epOAModel, method: http.MethodGet, model: rest}
	}
	switch {
	case strings.HasPrefix(p, "/v1beta"):
		return route{format: fmtGemini}
	case strings.HasPrefix(p, "/v1/messages"):
		return route{format: fmtAnthropic}
	}
	return route{}
}

func geminiRoute(r *http.Request, rest string) route {
	model, action, ok := strings.Cut(rest, ":")
	rt := route{format: fmtGemini, method: http.MethodPost, model: model}
	if model == "" || strings.IndexByte(model, '/') >= 0 {
		return route{format: fmtGemini}
	}
	if !ok {
		rt.kind, rt.method = epGMModel, http.MethodGet
		return rt
	}
	switch action {
	case "generateContent":
		rt.kind = epGenerate
	case "streamGenerateContent":
		rt.kind = epStreamGenerate
		rt.sse = r.URL.Query().Get("alt") == "sse"
	case "countTokens":
		rt.kind = epGMCountTokens
	default:
		return route{format: fmtGemini}
	}
	return rt
}

// serve answers a routed, fault-free (so far) request.
func (x *exchange) serve(body []byte) {
	switch x.ep.kind {
	case epChat:
		x.serveChat(body)
	case epEmbeddings:
		x.serveEmbeddings(body)
	case epResponses:
		x.serveResponses(body)
	case epOAModels:
		x.writeJSON(http.StatusOK, x.m.models.openai)
	case epOAModel:
		x.writeJSON(http.StatusOK, mustJSON(oaModelFor(x.ep.model)))
	case epMessages:
		x.serveMessages(body)
	case epCountTokens:
		x.serveCountTokens(body)
	case epANModels:
		x.writeJSON(http.StatusOK, x.m.models.anthropic)
	case epANModel:
		x.writeJSON(http.StatusOK, mustJSON(anModelFor(x.ep.model)))
	case epGenerate, epStreamGenerate:
		x.serveGenerate(body)
	case epGMCountTokens:
		x.serveGMCountTokens(body)
	case epGMModels:
		x.writeJSON(http.StatusOK, x.m.models.gemini)
	case epGMModel:
		x.writeJSON(http.StatusOK, mustJSON(x.m.gmModelFor(x.ep.model)))
	}
}

// badJSON answers a body that does not parse.
func (x *exchange) badJSON(err error) {
	x.writeError(http.StatusBadRequest, "Could not parse the JSON body of your request: "+err.Error())
}

// modelOr returns model, or the default for the endpoint's format.
func (x *exchange) modelOr(model string) string {
	switch {
	case model != "":
		return model
	case x.m.opts.Model != "":
		return x.m.opts.Model
	case x.ep.format == fmtAnthropic:
		return "claude-sonnet-4-5"
	case x.ep.format == fmtGemini:
		return "gemini-2.5-flash"
	}
	return "gpt-4o-mini"
}

// idSuffix is the unique part of the request id, for response and call ids.
func (x *exchange) idSuffix() string { return x.reqID[len("req_"):] }
