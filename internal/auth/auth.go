package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Authenticator decides who sent a request. With neither Keys nor OIDC it
// refuses everyone, unless AllowUnauthenticated makes every request the
// client Anonymous.
type Authenticator struct {
	Keys                 *KeyFile // API keys; nil: none
	OIDC                 *OIDC    // bearer tokens; nil: none
	AllowUnauthenticated bool
}

// Failure is why a request was not authenticated.
type Failure struct {
	// Code is the HTTP status: 401 (missing or invalid credentials) or 503
	// (the identity provider could not be asked; retry).
	Code int
	// Challenge is the WWW-Authenticate value for a 401 (RFC 6750).
	Challenge string
	Detail    string
}

func (f *Failure) Error() string { return f.Detail }

const realm = `Bearer realm="voiceassist"`

// Credential returns the credential a request carries: the value of
// "Authorization: Bearer <credential>", else of "X-API-Key".
func Credential(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, v, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(v)
		}
		return ""
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

// Authenticate returns the client id of r, or why there is none.
func (a *Authenticator) Authenticate(r *http.Request) (string, *Failure) {
	if a.AllowUnauthenticated && a.Keys == nil && a.OIDC == nil {
		return Anonymous, nil
	}
	cred := Credential(r)
	if cred == "" {
		if a.AllowUnauthenticated {
			return Anonymous, nil
		}
		detail := "authentication required: send Authorization: Bearer <API key"
		if a.OIDC != nil {
			detail += " or OIDC token"
		}
		return "", &Failure{http.StatusUnauthorized, realm, detail + "> (or X-API-Key: <API key>)"}
	}
	if a.OIDC != nil && looksLikeJWT(cred) {
		return a.token(r.Context(), cred)
	}
	if a.Keys != nil {
		if client, ok := a.Keys.Keys().Lookup(cred); ok {
			return client, nil
		}
	}
	return "", &Failure{http.StatusUnauthorized, realm + `, error="invalid_token"`, "invalid API key"}
}

func (a *Authenticator) token(ctx context.Context, tok string) (string, *Failure) {
	client, err := a.OIDC.Verify(ctx, tok)
	switch {
	case err == nil:
		return client, nil
	case errors.Is(err, ErrOIDCUnavailable):
		return "", &Failure{Code: http.StatusServiceUnavailable, Detail: "cannot verify tokens yet: " + err.Error()}
	}
	return "", &Failure{http.StatusUnauthorized, realm + `, error="invalid_token"`, "invalid token: " + err.Error()}
}
