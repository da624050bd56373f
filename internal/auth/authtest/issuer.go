// Package authtest is a TEST FAKE of an OpenID Connect identity provider:
// a local HTTP server serving the discovery document and the JWKS of a key
// it generates, and tokens signed with that key (go-jose, the library
// go-oidc verifies with). A real identity provider cannot run in the tests;
// everything on the verifying side (go-oidc, the gateway) is the real code.
package authtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer is the fake identity provider. URL is its issuer URL.
type Issuer struct {
	URL string
	key *rsa.PrivateKey
	kid string
	// Discoveries counts discovery-document requests; Down makes every
	// request fail with 503 (an outage) while true.
	Discoveries atomic.Int64
	Down        atomic.Bool
	srv         *httptest.Server
}

// NewIssuer starts the fake on a loopback port; it stops when t ends.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{key: key, kid: "test-key-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		is.Discoveries.Add(1)
		writeJSON(w, map[string]any{
			"issuer":                                is.URL,
			"jwks_uri":                              is.URL + "/keys",
			"authorization_endpoint":                is.URL + "/auth",
			"token_endpoint":                        is.URL + "/token",
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &is.key.PublicKey, KeyID: is.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if is.Down.Load() {
			http.Error(w, "identity provider down (test)", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	is.URL = is.srv.URL
	t.Cleanup(is.srv.Close)
	return is
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Claims of a token; zero Expiry means an hour from now, zero Issuer the
// fake's.
type Claims struct {
	Issuer, Subject string
	Audience        []string
	Expiry          time.Time
	Extra           map[string]any
}

// Token signs claims with the issuer's key.
func (is *Issuer) Token(t testing.TB, c Claims) string {
	t.Helper()
	return is.sign(t, is.key, c)
}

// TokenSignedBy signs claims with another key (a forgery).
func (is *Issuer) TokenSignedBy(t testing.TB, key *rsa.PrivateKey, c Claims) string {
	t.Helper()
	return is.sign(t, key, c)
}

func (is *Issuer) sign(t testing.TB, key *rsa.PrivateKey, c Claims) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", is.kid))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer == "" {
		c.Issuer = is.URL
	}
	if c.Expiry.IsZero() {
		c.Expiry = time.Now().Add(time.Hour)
	}
	std := jwt.Claims{Issuer: c.Issuer, Subject: c.Subject, Audience: jwt.Audience(c.Audience),
		Expiry: jwt.NewNumericDate(c.Expiry), IssuedAt: jwt.NewNumericDate(time.Now().Add(-time.Minute))}
	b := jwt.Signed(sig).Claims(std)
	if c.Extra != nil {
		b = b.Claims(c.Extra)
	}
	tok, err := b.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
