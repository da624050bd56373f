package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeyPrefix starts every key NewKey makes, so a leaked key is recognisable
// (secret scanners, logs) and never mistaken for an OIDC token (no dots).
const KeyPrefix = "vak_"

// Anonymous is the client id of every request when authentication is off
// (--allow-unauthenticated); no key file or token may claim it.
const Anonymous = "anonymous"

// NewKey returns a new random API key (256 bits) and the line of the keys
// file that accepts it for client.
func NewKey(client string) (key, line string, err error) {
	if err := ValidClientID(client); err != nil {
		return "", "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	key = KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return key, client + ":" + HashKey(key), nil
}

// HashKey is the form a key is stored in: lowercase hex SHA-256 of the key.
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// ValidClientID reports why id cannot be a client id. Ids end up in logs,
// rate-limit keys and the jobs table, so they are printable and bounded;
// beyond that anything an identity provider uses as a subject is allowed.
func ValidClientID(id string) error {
	switch {
	case id == "":
		return errors.New("client id is empty")
	case len(id) > 256:
		return fmt.Errorf("client id %.20q... is longer than 256 bytes", id)
	case id == Anonymous:
		return fmt.Errorf("client id %q is reserved for --allow-unauthenticated", id)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("client id %q: control characters and spaces are not allowed", id)
		}
	}
	return nil
}

// Keys is a parsed keys file: which hash belongs to which client. A client
// may have several keys (the old and the new one while a key rotates).
type Keys struct {
	entries []keyEntry
}

type keyEntry struct {
	client string
	hash   [sha256.Size]byte
}

// ParseKeys parses the keys file format: one `<client-id>:<hex sha256 of
// the key>` per line; blank lines and lines starting with # are ignored.
// Errors name the file (name), the line and the field.
func ParseKeys(name string, data []byte) (*Keys, error) {
	k := &Keys{}
	seen := map[[sha256.Size]byte]int{}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		client, hexHash, ok := strings.Cut(line, ":")
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: want <client-id>:<sha256 hex of the key>, got no ':'", name, n))
			continue
		}
		client, hexHash = strings.TrimSpace(client), strings.TrimSpace(hexHash)
		if err := ValidClientID(client); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: client id: %w", name, n, err))
			continue
		}
		var e keyEntry
		e.client = client
		if len(hexHash) != 2*sha256.Size || strings.ToLower(hexHash) != hexHash {
			errs = append(errs, fmt.Errorf("%s:%d: hash of client %q: want 64 lowercase hex digits (sha256 of the key), got %d characters", name, n, client, len(hexHash)))
			continue
		}
		if _, err := hex.Decode(e.hash[:], []byte(hexHash)); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: hash of client %q: %v", name, n, client, err))
			continue
		}
		if prev, dup := seen[e.hash]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: hash of client %q repeats line %d: one key must name one client", name, n, client, prev))
			continue
		}
		seen[e.hash] = n
		k.entries = append(k.entries, e)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return k, nil
}

// Len is the number of keys.
func (k *Keys) Len() int { return len(k.entries) }

// Clients is the number of distinct clients.
func (k *Keys) Clients() int {
	m := map[string]bool{}
	for _, e := range k.entries {
		m[e.client] = true
	}
	return len(m)
}

// Lookup returns the client whose key this is. It compares the key's hash
// with every entry in constant time and without stopping at a match, so
// the time taken says nothing about which keys exist.
func (k *Keys) Lookup(key string) (client string, ok bool) {
	if k == nil || key == "" {
		return "", false
	}
	h := sha256.Sum256([]byte(key))
	found := -1
	for i := range k.entries {
		if subtle.ConstantTimeCompare(h[:], k.entries[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return k.entries[found].client, true
}
