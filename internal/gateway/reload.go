package gateway

// Inherit makes g share old's Idempotency-Key and stale-if-error caches, so
// a configuration reload (a new Gateway for new requests, the old one
// finishing its requests in flight) neither forgets answers nor runs a
// repeated Idempotency-Key request twice. Call it before g serves; the
// caches keep old's TTLs.
func (g *Gateway) Inherit(old *Gateway) {
	g.idem, g.stale = old.idem, old.stale
}
