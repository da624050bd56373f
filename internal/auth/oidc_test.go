package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/auth"
	"github.com/voiceassist/autoscaling/internal/auth/authtest"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

func bearer(tok string) *http.Request {
	r := httptest.NewRequest("GET", "/v1/jobs/x", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// TestOIDC verifies tokens of a local issuer (authtest, a labelled fake of
// an identity provider) with go-oidc: the right ones name their client,
// every kind of wrong one gets 401 with an RFC 6750 challenge.
func TestOIDC(t *testing.T) {
	is := authtest.NewIssuer(t)
	o, err := auth.NewOIDC(auth.OIDCConfig{Issuer: is.URL, Audience: "voiceassist", ClientClaim: "client_id"}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	a := &auth.Authenticator{OIDC: o}

	// Before discovery: the token may be fine, so 503, not 401.
	good := is.Token(t, authtest.Claims{Subject: "u1", Audience: []string{"voiceassist"}, Extra: map[string]any{"client_id": "svc-a"}})
	if _, f := a.Authenticate(bearer(good)); f == nil || f.Code != 503 {
		t.Fatalf("before discovery: %+v, want 503", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := o.Discover(ctx); err != nil {
		t.Fatal(err)
	}
	if c, f := a.Authenticate(bearer(good)); f != nil || c != "svc-a" {
		t.Fatalf("good token: %q %+v", c, f)
	}

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	aud := []string{"voiceassist"}
	extra := map[string]any{"client_id": "svc-a"}
	bad := map[string]string{
		"expired":        is.Token(t, authtest.Claims{Audience: aud, Extra: extra, Expiry: time.Now().Add(-time.Minute)}),
		"other audience": is.Token(t, authtest.Claims{Audience: []string{"billing"}, Extra: extra}),
		"other issuer":   is.Token(t, authtest.Claims{Issuer: "https://evil.example", Audience: aud, Extra: extra}),
		"forged":         is.TokenSignedBy(t, other, authtest.Claims{Audience: aud, Extra: extra}),
		"no claim":       is.Token(t, authtest.Claims{Subject: "u1", Audience: aud}),
		"reserved id":    is.Token(t, authtest.Claims{Audience: aud, Extra: map[string]any{"client_id": "anonymous"}}),
		"garbage":        "a.b.c",
		"api key":        "vak_notakey",
	}
	for name, tok := range bad {
		c, f := a.Authenticate(bearer(tok))
		if f == nil || f.Code != 401 || !strings.Contains(f.Challenge, `error="invalid_token"`) {
			t.Errorf("%s: client %q, failure %+v; want 401 invalid_token", name, c, f)
		}
	}
	// No credentials at all: 401 with a bare challenge.
	if _, f := a.Authenticate(httptest.NewRequest("GET", "/", nil)); f == nil || f.Code != 401 || f.Challenge != `Bearer realm="voiceassist"` {
		t.Errorf("no credentials: %+v", f)
	}

	// The default claim is sub.
	o2, err := auth.NewOIDC(auth.OIDCConfig{Issuer: is.URL, Audience: "voiceassist"}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := o2.Discover(ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := o2.Verify(ctx, is.Token(t, authtest.Claims{Subject: "u1", Audience: aud})); err != nil || c != "u1" {
		t.Fatalf("sub: %q %v", c, err)
	}
}

// TestOIDCDiscoveryRetries: an issuer that is down when the gateway starts
// is retried until it answers; Ready says why until then.
func TestOIDCDiscoveryRetries(t *testing.T) {
	is := authtest.NewIssuer(t)
	is.Down.Store(true)
	o, err := auth.NewOIDC(auth.OIDCConfig{Issuer: is.URL, Audience: "a"}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- o.Discover(context.Background()) }()
	deadline := time.Now().Add(10 * time.Second)
	for is.Discoveries.Load() == 0 && o.Ready(context.Background()) == nil {
		if time.Now().After(deadline) {
			t.Fatal("no discovery attempt")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := o.Ready(context.Background()); err == nil {
		t.Fatal("ready although the issuer is down")
	}
	is.Down.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("discovery did not retry after the issuer came back")
	}
	if err := o.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOIDCConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  auth.OIDCConfig
		want string
	}{
		{auth.OIDCConfig{Issuer: "accounts.example.com", Audience: "a"}, "absolute https://"},
		{auth.OIDCConfig{Issuer: "http://accounts.example.com", Audience: "a"}, "loopback"},
		{auth.OIDCConfig{Issuer: "https://accounts.example.com"}, "--oidc-audience is required"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	if err := (auth.OIDCConfig{Issuer: "https://accounts.example.com", Audience: "a"}).Validate(); err != nil {
		t.Error(err)
	}
}
