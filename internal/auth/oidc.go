package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"k8s.io/apimachinery/pkg/util/wait"
)

// OIDCConfig says which tokens are accepted: those the issuer signed, for
// the audience, naming the client in ClientClaim.
type OIDCConfig struct {
	Issuer      string
	Audience    string
	ClientClaim string // "sub" if empty
	// HTTPClient fetches discovery and the JWKS; nil: a client with a 10 s
	// timeout.
	HTTPClient *http.Client
}

// Validate checks the settings before anything is fetched.
func (c OIDCConfig) Validate() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("--oidc-issuer %q: want an absolute https:// URL (the tokens' iss)", c.Issuer)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("--oidc-issuer %q: http:// only for a loopback issuer (tests); use https://", c.Issuer)
	}
	if c.Audience == "" {
		return errors.New("--oidc-audience is required with --oidc-issuer: without it a token the issuer made for any other application would be accepted")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// OIDC verifies bearer tokens. Discovery (the issuer's
// /.well-known/openid-configuration) runs in the background and is retried
// until it works, so an identity provider that is down when the gateway
// starts delays token logins, not the gateway; API keys work meanwhile.
type OIDC struct {
	cfg      OIDCConfig
	log      *slog.Logger
	verifier atomic.Pointer[oidc.IDTokenVerifier]
	lastErr  atomic.Value // string: why discovery has not worked yet
}

// ErrOIDCUnavailable: the issuer's discovery has not worked yet.
var ErrOIDCUnavailable = errors.New("the identity provider's discovery document could not be read yet")

// NewOIDC validates cfg; call Discover (usually in a goroutine) before
// tokens can be verified.
func NewOIDC(cfg OIDCConfig, log *slog.Logger) (*OIDC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ClientClaim == "" {
		cfg.ClientClaim = "sub"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if log == nil {
		log = slog.Default()
	}
	o := &OIDC{cfg: cfg, log: log}
	o.lastErr.Store("not tried yet")
	return o, nil
}

// discoveryBackoff: 1 s doubling to 1 min, jittered.
var discoveryBackoff = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.2, Steps: 1 << 30, Cap: time.Minute}

// Discover fetches the issuer's discovery document, retrying with backoff
// until it works or ctx ends. It returns nil once tokens can be verified.
func (o *OIDC) Discover(ctx context.Context) error {
	// The provider keeps this context for fetching keys later: it carries
	// the HTTP client and must outlive the start-up.
	keyCtx := oidc.ClientContext(context.WithoutCancel(ctx), o.cfg.HTTPClient)
	attempt := 0
	return discoveryBackoff.DelayFunc().Until(ctx, true, false, func(ctx context.Context) (bool, error) {
		attempt++
		actx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.cfg.HTTPClient), 15*time.Second)
		defer cancel()
		p, err := oidc.NewProvider(actx, o.cfg.Issuer)
		if err != nil {
			o.lastErr.Store(err.Error())
			o.log.Warn("OIDC discovery failed; retrying", "issuer", o.cfg.Issuer, "attempt", attempt, "err", err)
			return false, nil
		}
		// NewProvider bound the key set to actx; rebuild it on keyCtx.
		var meta struct {
			JWKS string `json:"jwks_uri"`
		}
		if err := p.Claims(&meta); err != nil || meta.JWKS == "" {
			o.lastErr.Store(fmt.Sprintf("discovery document has no jwks_uri (%v)", err))
			return false, nil
		}
		v := oidc.NewVerifier(o.cfg.Issuer, oidc.NewRemoteKeySet(keyCtx, meta.JWKS), &oidc.Config{ClientID: o.cfg.Audience})
		o.verifier.Store(v)
		o.log.Info("OIDC issuer discovered; bearer tokens accepted", "issuer", o.cfg.Issuer, "audience", o.cfg.Audience, "client_claim", o.cfg.ClientClaim)
		return true, nil
	})
}

// Ready reports nil once tokens can be verified, else why not.
func (o *OIDC) Ready(context.Context) error {
	if o.verifier.Load() != nil {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrOIDCUnavailable, o.lastErr.Load())
}

// Verify checks a token (signature, issuer, audience, expiry) and returns
// the client id from its ClientClaim. ErrOIDCUnavailable means the issuer
// is not discovered yet (the token may be fine).
func (o *OIDC) Verify(ctx context.Context, token string) (string, error) {
	v := o.verifier.Load()
	if v == nil {
		return "", o.Ready(ctx)
	}
	t, err := v.Verify(ctx, token)
	if err != nil {
		return "", err
	}
	var claims map[string]any
	if err := t.Claims(&claims); err != nil {
		return "", err
	}
	client, _ := claims[o.cfg.ClientClaim].(string)
	if client == "" {
		return "", fmt.Errorf("token has no string claim %q (--oidc-client-claim)", o.cfg.ClientClaim)
	}
	if err := ValidClientID(client); err != nil {
		return "", fmt.Errorf("claim %q: %w", o.cfg.ClientClaim, err)
	}
	return client, nil
}

// looksLikeJWT: three base64url segments separated by dots. API keys have
// no dots, so a bearer value is tried as one or the other, never both.
func looksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 }
