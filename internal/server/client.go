package server

import (
	"context"
	"net"
)

// ClientID names the client of the request carrying ctx: the id it
// authenticated as (an API key's client, an OIDC token's claim, or
// auth.Anonymous with --allow-unauthenticated). Before authentication has
// run (routes without it: probes, unknown paths) it is the remote IP. Jobs
// are owned by it and rate limits key on it.
func ClientID(ctx context.Context) string {
	ri := infoFrom(ctx)
	if ri.client != "" {
		return ri.client
	}
	host, _, err := net.SplitHostPort(ri.remote)
	if err != nil {
		return ri.remote
	}
	return host
}
