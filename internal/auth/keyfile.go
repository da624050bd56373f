package auth

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultPollInterval is how often KeyFile.Watch re-reads the file even
// without a file-system event: the safety net for events inotify misses
// (a directory replaced wholesale, an exhausted watch limit).
const DefaultPollInterval = 30 * time.Second

// KeyFile is a keys file kept current: Keys always returns the last version
// that parsed. Watch re-reads it when it changes.
//
// A Kubernetes Secret volume updates by an atomic symlink swap: the file
// `api-keys` links to `..data/api-keys`, and the kubelet writes a new
// timestamped directory and renames a new `..data` link over the old one.
// The file itself never changes, so Watch watches its directory and
// re-reads the file (through the links) on any event there.
type KeyFile struct {
	Path string
	Log  *slog.Logger
	// PollInterval: see DefaultPollInterval; 0 uses it.
	PollInterval time.Duration
	// OnReload, if set, is called after each reload attempt with the keys
	// now in force and the error of the attempt (nil when it worked).
	OnReload func(k *Keys, err error)

	keys atomic.Pointer[Keys]
	mu   sync.Mutex // serializes Reload
	raw  []byte     // content of the version in force
}

// LoadKeyFile reads and parses path. An error names the file and, for bad
// content, the line and field.
func LoadKeyFile(path string, log *slog.Logger) (*KeyFile, error) {
	if log == nil {
		log = slog.Default()
	}
	f := &KeyFile{Path: path, Log: log}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--api-keys-file: %w", err)
	}
	k, err := ParseKeys(path, b)
	if err != nil {
		return nil, err
	}
	f.raw = b
	f.keys.Store(k)
	return f, nil
}

// Keys returns the keys in force.
func (f *KeyFile) Keys() *Keys { return f.keys.Load() }

// Reload re-reads the file. If it is unreadable or does not parse, the keys
// in force stay (a half-written edit must not lock every client out) and
// the error is returned. changed says whether new keys took effect.
func (f *KeyFile) Reload() (changed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := os.ReadFile(f.Path)
	if err == nil && bytes.Equal(b, f.raw) {
		return false, nil
	}
	var k *Keys
	if err == nil {
		k, err = ParseKeys(f.Path, b)
	}
	if err != nil {
		f.Log.Error("api keys file not reloaded; the previous keys stay in force", "file", f.Path, "err", err)
	} else {
		f.raw = b
		f.keys.Store(k)
		f.Log.Info("api keys reloaded", "file", f.Path, "keys", k.Len(), "clients", k.Clients())
	}
	if f.OnReload != nil {
		f.OnReload(f.Keys(), err)
	}
	return err == nil, err
}

// Watch re-reads the file whenever its directory changes, and every
// PollInterval in any case, until ctx ends. It returns nil then.
func (f *KeyFile) Watch(ctx context.Context) error {
	poll := f.PollInterval
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	var events chan fsnotify.Event
	var errs chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(filepath.Dir(f.Path)); err != nil {
			w.Close()
		}
	}
	if err != nil {
		f.Log.Warn("cannot watch the api keys directory; polling only", "file", f.Path, "every", poll.String(), "err", err)
	} else {
		defer w.Close()
		events, errs = w.Events, w.Errors
	}
	// Whatever changed between Load and the watch being in place.
	_, _ = f.Reload()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-events:
			_, _ = f.Reload() // logged by Reload
		case err := <-errs:
			f.Log.Warn("watching the api keys directory", "file", f.Path, "err", err)
		case <-t.C:
			_, _ = f.Reload()
		}
	}
}
