package gateway

import "github.com/llmgate/llmgate/internal/provider"

// encodeResponse renders a translated complete answer in the client's
// format, with the request at hand for formats that echo it.
func encodeResponse(x *exchange, r *provider.Response) ([]byte, error) {
	if e, ok := x.cc.(provider.RequestEchoer); ok {
		if req, err := x.canonical(); err == nil {
			return e.EncodeResponseFor(r, req)
		}
	}
	return x.cc.EncodeResponse(r)
}
