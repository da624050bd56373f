package testenv

import (
	"fmt"
	"os"
	"path/filepath"
)

// RepoRoot is the repository's top directory (the one holding go.mod and
// hack/e2e/build.sh), found upwards from the working directory: a test runs
// in its package's directory, wherever that is in the tree, including the
// separate modules under test/e2e.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "hack", "e2e", "build.sh")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no hack/e2e/build.sh above %s", dir)
		}
	}
}
