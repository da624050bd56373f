package loadtest

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// APIKeyEnv is the variable vactl loadtest reads the gateway's API key
// from when --api-key-file is not given.
const APIKeyEnv = "VOICEASSIST_API_KEY"

// SecretKey reads the load test's key from the cluster (the Secret
// voiceassist-loadtest-key that vactl setup --create-secrets makes);
// found is false when there is none.
type SecretKey func(ctx context.Context) (key string, found bool, err error)

// ResolveAPIKey finds the API key the load is sent with, in this order:
// the file (its content, surrounding whitespace trimmed), $VOICEASSIST_API_KEY,
// then secret (nil: no cluster). from says where it came from; key is ""
// (and from too) when none of them has one: the requests then carry no
// credentials.
func ResolveAPIKey(ctx context.Context, file string, getenv func(string) string, secret SecretKey, secretName string) (key, from string, err error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", "", fmt.Errorf("--api-key-file: %w", err)
		}
		if key = strings.TrimSpace(string(b)); key == "" || strings.ContainsAny(key, "\r\n") {
			return "", "", fmt.Errorf("--api-key-file %s: want one key on one line", file)
		}
		return key, "--api-key-file " + file, nil
	}
	if key = strings.TrimSpace(getenv(APIKeyEnv)); key != "" {
		return key, "$" + APIKeyEnv, nil
	}
	if secret == nil {
		return "", "", nil
	}
	key, found, err := secret(ctx)
	if err != nil || !found {
		return "", "", err
	}
	return key, secretName, nil
}
