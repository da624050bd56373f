package ociimage

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Unpack writes img's flattened file system (later layers win, whiteouts
// applied: go-containerregistry's mutate.Extract) into dir, which is created
// when missing and should be empty. Every entry is written through an
// os.Root at dir, so no name or symlink in the image reaches outside it.
// Directories, regular files, symlinks and hard links are written with
// their modes (setuid, setgid and sticky bits included); owners are kept
// when running as root. Any other entry (a device, a FIFO) is an error
// naming it: there is nothing to run it on.
func Unpack(img v1.Image, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	chown := os.Geteuid() == 0

	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	// Directory modes are set last: a read-only directory would stop the
	// writes into it when not running as root.
	type dirMode struct {
		name string
		mode fs.FileMode
	}
	var dirs []dirMode
	// Hard links last: the flattened stream lists the upper layers first,
	// so a link can come before the file it names.
	var hardLinks []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			// Extract reports a bad layer (an unsafe path) after the
			// tar's end: read on to get it.
			if _, err = io.Copy(io.Discard, rc); err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("unpacking into %s: %w", dir, err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "/"))
		if name == "." {
			continue
		}
		fail := func(err error) error { return fmt.Errorf("unpacking image file %s into %s: %w", h.Name, dir, err) }
		if parent := path.Dir(name); parent != "." {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				return fail(err)
			}
		}
		mode := h.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o700); err != nil {
				return fail(err)
			}
			dirs = append(dirs, dirMode{name, mode})
		case tar.TypeReg:
			f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return fail(err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = root.Chmod(name, mode)
			}
			if err != nil {
				return fail(err)
			}
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, name); err != nil {
				return fail(err)
			}
		case tar.TypeLink:
			hardLinks = append(hardLinks, h)
			continue
		default:
			return fail(fmt.Errorf("tar entry type %q is not supported (only directories, files and links)", h.Typeflag))
		}
		if chown {
			if err := root.Lchown(name, h.Uid, h.Gid); err != nil {
				return fail(err)
			}
		}
	}
	for _, h := range hardLinks {
		name := path.Clean(strings.TrimPrefix(h.Name, "/"))
		err := root.Link(path.Clean(strings.TrimPrefix(h.Linkname, "/")), name)
		if err == nil && chown {
			err = root.Lchown(name, h.Uid, h.Gid)
		}
		if err != nil {
			return fmt.Errorf("unpacking image file %s into %s: %w", h.Name, dir, err)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := root.Chmod(dirs[i].name, dirs[i].mode); err != nil {
			return fmt.Errorf("unpacking image directory %s into %s: %w", dirs[i].name, dir, err)
		}
	}
	return nil
}

// User resolves the image config's User the way container runtimes do:
// "uid", "uid:gid", "name", "name:group" or "uid:group", names looked up
// in the image's own /etc/passwd and /etc/group. Without a group the user's
// passwd entry gives it (0 when there is none); an empty User is root.
func User(img v1.Image) (uid, gid int, err error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return 0, 0, err
	}
	spec := cf.Config.User
	if spec == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(spec, ":")
	uid, uerr := strconv.Atoi(u)
	uidNumeric := uerr == nil && uid >= 0
	gnum, gerr := strconv.Atoi(g)
	gidNumeric := hasGroup && gerr == nil && gnum >= 0
	if uidNumeric && gidNumeric {
		return uid, gnum, nil
	}
	fail := func(format string, a ...any) (int, int, error) {
		return 0, 0, fmt.Errorf("image config User %q: %s", spec, fmt.Sprintf(format, a...))
	}
	passwd, err := etcFile(img, "/etc/passwd")
	if err != nil {
		return fail("%v", err)
	}
	gid = -1
	if uidNumeric {
		if e, ok := findEntry(passwd, 2, u); ok && len(e) > 3 {
			gid, _ = strconv.Atoi(e[3])
		}
	} else {
		e, ok := findEntry(passwd, 0, u)
		if !ok || len(e) < 4 {
			return fail("no user %q in the image's /etc/passwd", u)
		}
		if uid, err = strconv.Atoi(e[2]); err != nil {
			return fail("/etc/passwd: uid %q of %q: %v", e[2], u, err)
		}
		gid, _ = strconv.Atoi(e[3])
	}
	switch {
	case gidNumeric:
		gid = gnum
	case hasGroup:
		group, err := etcFile(img, "/etc/group")
		if err != nil {
			return fail("%v", err)
		}
		e, ok := findEntry(group, 0, g)
		if !ok || len(e) < 3 {
			return fail("no group %q in the image's /etc/group", g)
		}
		if gid, err = strconv.Atoi(e[2]); err != nil {
			return fail("/etc/group: gid %q of %q: %v", e[2], g, err)
		}
	case gid < 0:
		gid = 0
	}
	return uid, gid, nil
}

// etcFile reads one of the image's account files; a missing one is empty.
func etcFile(img v1.Image, name string) ([]byte, error) {
	_, b, err := ReadFile(img, name)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return b, err
}

// findEntry returns the fields of the first colon-separated line of data
// whose field i is value.
func findEntry(data []byte, i int, value string) ([]string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) > i && f[i] == value {
			return f, true
		}
	}
	return nil, false
}
