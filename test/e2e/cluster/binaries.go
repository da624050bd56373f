//go:build e2e

package cluster

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries runs hack/e2e/build.sh of the repository at root for the named
// components (every one when none is named) and returns the
// "<component>=<path>" lines it prints. With cachedOnly it never builds
// (VA_E2E_NO_BUILD=1), so a binary that is not cached is an error. The
// script's progress goes to stderr (nil: discarded).
func Binaries(root string, cachedOnly bool, stderr io.Writer, components ...string) (map[string]string, error) {
	var out bytes.Buffer
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "hack", "e2e", "build.sh")}, components...)...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	if cachedOnly {
		cmd.Env = append(cmd.Env, "VA_E2E_NO_BUILD=1")
	}
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		if cachedOnly {
			return nil, fmt.Errorf("hack/e2e/build.sh (VA_E2E_NO_BUILD=1: cached binaries only): %w", err)
		}
		return nil, fmt.Errorf("hack/e2e/build.sh: %w", err)
	}
	bins := map[string]string{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok {
			bins[k] = v
		}
	}
	return bins, nil
}
