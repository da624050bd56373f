package imagebuild

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// moduleDir is the module root, two levels above this package.
var moduleDir, _ = filepath.Abs(filepath.Join("..", ".."))

func options(t *testing.T, out string) Options {
	t.Helper()
	return Options{
		ModuleDir: moduleDir,
		OutDir:    out,
		Repo:      DefaultRepo,
		Tag:       "repro-test",
		Revision:  "0123456789abcdef0123456789abcdef01234567",
		Source:    DefaultSource,
		Created:   time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC),
		Arch:      runtime.GOARCH,
		CABundle:  DefaultCABundle,
	}
}

func TestOptionsErrors(t *testing.T) {
	for what, mod := range map[string]func(*Options){
		`unknown image "nope"`: func(o *Options) { o.Only = []string{"nope"} },
		`tag "bad tag"`:        func(o *Options) { o.Tag = "bad tag" },
		"created time":         func(o *Options) { o.Created = time.Time{} },
	} {
		o := options(t, t.TempDir())
		mod(&o)
		_, err := Build(context.Background(), o)
		var oe *OptionsError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), what) {
			t.Errorf("%s: err %v, want an *OptionsError naming it", what, err)
		}
	}
	// A binary that needs cgo would need a libc the image lacks.
	if err := CheckStatic("/bin/sh"); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("CheckStatic(/bin/sh): %v", err)
	}
}

func TestReadGit(t *testing.T) {
	ctx := context.Background()
	g, err := ReadGit(ctx, moduleDir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ct, err := exec.Command("git", "-C", moduleDir, "log", "-1", "--format=%cI").Output()
	if err != nil {
		t.Fatal(err)
	}
	want, err := time.Parse(time.RFC3339, strings.TrimSpace(string(ct)))
	if err != nil {
		t.Fatal(err)
	}
	if !g.Created.Equal(want) || len(g.Revision) != 40 || g.Describe == "" {
		t.Errorf("ReadGit = %+v; want the HEAD commit time %s", g, want)
	}
	g, err = ReadGit(ctx, moduleDir, func(k string) string {
		if k == "SOURCE_DATE_EPOCH" {
			return "1700000000"
		}
		return ""
	})
	if err != nil || !g.Created.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("with SOURCE_DATE_EPOCH: %s, %v", g.Created, err)
	}
	_, err = ReadGit(ctx, moduleDir, func(string) string { return "yesterday" })
	if err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("bad SOURCE_DATE_EPOCH: %v", err)
	}
}
