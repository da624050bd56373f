// Package auth authenticates the clients of the VoiceAssist gateway: API
// keys read from a file of their SHA-256 hashes (a mounted Kubernetes
// Secret, re-read when it changes, so keys rotate without a restart) and,
// where an issuer is configured, OIDC bearer tokens verified with
// github.com/coreos/go-oidc. Each yields a client id, which the gateway
// uses to own jobs and to key rate limits.
//
// Keys are random 256-bit strings (NewKey), not passwords, so one unsalted
// SHA-256 is the right hash: there is nothing to brute-force, and the file
// (and anyone who reads the Secret) never holds a key that works.
package auth
