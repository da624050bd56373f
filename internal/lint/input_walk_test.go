package lint

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// unreadableDirFS is a real directory tree in which one subdirectory cannot
// be listed: a fake for the permission error that chmod 000 gives, which
// tests running as root never see.
type unreadableDirFS struct {
	fstest.MapFS
	bad string
}

func (f unreadableDirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name == f.bad {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return f.MapFS.ReadDir(name)
}

// A directory that cannot be walked is an error naming it, not "no
// Kubernetes objects"; a readable one still points to its kustomizations.
func TestNoObjectsUnreadableDirectory(t *testing.T) {
	tree := fstest.MapFS{
		"README.md":                         {Data: []byte("docs")},
		"overlays/dev/kustomization.yaml":   {Data: []byte("resources: []\n")},
		"private/secret/kustomization.yaml": {Data: []byte("resources: []\n")},
	}
	root := filepath.Join("deploy", "k8s")
	err := noObjectsInDir(unreadableDirFS{tree, "private"}, root)
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), filepath.Join(root, "private")) || strings.Contains(err.Error(), "no Kubernetes objects") {
		t.Errorf("unreadable subdirectory: %v; want the read error naming %s", err, filepath.Join(root, "private"))
	}
	err = noObjectsInDir(tree, root)
	if err == nil || !strings.Contains(err.Error(), "-f "+filepath.Join(root, "overlays", "dev")) {
		t.Errorf("readable tree: %v; want it to name the kustomization to lint", err)
	}
}
