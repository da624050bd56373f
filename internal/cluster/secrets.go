package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The Secrets of the manifests whose keys are not independent random
// values (k8s/performance/README.md, "Credentials").
const (
	// RedisSecret holds the Redis password (key password, what the clients
	// read as REDIS_PASSWORD) and users.acl, the ACL file Redis loads: the
	// default user with the password's SHA-256, so the Redis pod never
	// holds the password itself.
	RedisSecret = "voiceassist-redis"
	// APIKeysSecret holds the gateway's API keys as
	// "<client-id>:<hex sha256 of the key>" lines (key api-keys).
	APIKeysSecret = "voiceassist-api-keys"
	// LoadtestKeySecret holds, in key api-key, the plaintext key of client
	// LoadtestClient whose hash setup puts in APIKeysSecret, for clients in
	// the namespace's reach: vactl loadtest and the e2e.
	LoadtestKeySecret = "voiceassist-loadtest-key"
	LoadtestKeyKey    = "api-key"
	LoadtestClient    = "vactl-loadtest"
)

// knownKeys are the keys of our Secrets that a workload mounts whole (a
// volume without items names none).
var knownKeys = map[string][]string{
	RedisSecret:   {"password", "users.acl"},
	APIKeysSecret: {"api-keys"},
}

// withKnownKeys adds the keys of ref's Secret that its consumers need
// besides the ones the manifests name.
func withKnownKeys(ref SecretRef) SecretRef {
	for _, k := range knownKeys[ref.Name] {
		if !slices.Contains(ref.Keys, k) {
			ref.Keys = append(ref.Keys, k)
		}
	}
	slices.Sort(ref.Keys)
	return ref
}

// RedisACL is the users.acl line for password: the default user, on,
// every key, channel and command, authenticated by the password's SHA-256.
func RedisACL(password string) string {
	return "user default on #" + sha256Hex(password) + " ~* &* +@all\n"
}

// APIKeysLine is the api-keys line of the gateway for one client's key.
func APIKeysLine(client, key string) string { return client + ":" + sha256Hex(key) + "\n" }

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func randomValue() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newSecrets makes the Secret ref with a random value for each key, except
// for the keys derived from another (users.acl from password), and for
// APIKeysSecret also LoadtestKeySecret with the key whose hash it holds.
func newSecrets(ref SecretRef) ([]*corev1.Secret, error) {
	ref = withKnownKeys(ref)
	data := map[string][]byte{}
	var extra []*corev1.Secret
	for _, k := range ref.Keys {
		v, err := randomValue()
		if err != nil {
			return nil, err
		}
		data[k] = []byte(v)
	}
	switch ref.Name {
	case RedisSecret:
		data["users.acl"] = []byte(RedisACL(string(data["password"])))
	case APIKeysSecret:
		key := string(data["api-keys"])
		data["api-keys"] = []byte(APIKeysLine(LoadtestClient, key))
		extra = append(extra, vactlSecret(ref.Namespace, LoadtestKeySecret, map[string][]byte{LoadtestKeyKey: []byte(key)}))
	}
	return append([]*corev1.Secret{vactlSecret(ref.Namespace, ref.Name, data)}, extra...), nil
}

func vactlSecret(namespace, name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
			Labels:      map[string]string{managedByLabel: "vactl"},
			Annotations: map[string]string{annNote: "created by vactl setup --create-secrets; vactl teardown keeps it unless --delete-data"}},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
}

// CreateSecret creates the Secret ref with random values (and, for the API
// keys, the Secret with the load test's plaintext key, replacing an older
// one, whose key the new hashes would not match). It is not part of the
// inventory: teardown keeps it with the data it protects (the PVCs) unless
// --delete-data.
func (c *Client) CreateSecret(ctx context.Context, ref SecretRef) error {
	secrets, err := newSecrets(ref)
	if err != nil {
		return err
	}
	for i, s := range secrets {
		_, err := c.Kube.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{FieldManager: FieldManager})
		if i > 0 && apierrors.IsAlreadyExists(err) {
			_, err = c.Kube.CoreV1().Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{FieldManager: FieldManager})
		}
		if err != nil {
			return fmt.Errorf("creating Secret %s/%s: %w", s.Namespace, s.Name, c.Explain(err))
		}
	}
	return nil
}

// LoadtestKey reads the load test's API key from LoadtestKeySecret in
// namespace. found is false when the Secret does not exist.
func (c *Client) LoadtestKey(ctx context.Context, namespace string) (key string, found bool, err error) {
	s, err := c.Kube.CoreV1().Secrets(namespace).Get(ctx, LoadtestKeySecret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("Secret %s/%s: %w", namespace, LoadtestKeySecret, c.Explain(err))
	}
	v, ok := s.Data[LoadtestKeyKey]
	if !ok || len(v) == 0 {
		return "", false, fmt.Errorf("Secret %s/%s has no key %q", namespace, LoadtestKeySecret, LoadtestKeyKey)
	}
	return string(v), true, nil
}

// volumeItemKeys returns the keys a secret volume's items name that are
// not in seen yet.
func volumeItemKeys(vol map[string]any, seen []string) []string {
	var out []string
	items, _ := vol["items"].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		if k, _ := m["key"].(string); k != "" && !slices.Contains(seen, k) && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
