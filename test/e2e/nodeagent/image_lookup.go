//go:build e2e

package nodeagent

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// lookupImage finds an image's Binary: "repo:tag" exactly, else "repo"
// for any tag (or digest).
func (a *Agent) lookupImage(image string) (Binary, bool) {
	if b, ok := a.Images[image]; ok {
		return b, true
	}
	repo := image
	if i := strings.Index(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	for _, r := range []string{repo, strings.TrimPrefix(repo, "docker.io/"), strings.TrimPrefix(repo, "docker.io/library/")} {
		if b, ok := a.Images[r]; ok {
			return b, true
		}
	}
	return Binary{}, false
}

// containerBinary is the Binary that runs container c: its image's, with
// c's command and args applied to an OCI image's entrypoint and cmd
// (Binary.ForContainer).
func (a *Agent) containerBinary(c *corev1.Container) (Binary, bool) {
	b, ok := a.lookupImage(c.Image)
	if !ok {
		return b, false
	}
	return b.ForContainer(c), true
}

// imageID is a container's status.imageID: an OCI image's repository and
// manifest digest (OCIImage.ID), else "nodeagent://" and the image name.
func (a *Agent) imageID(image string) string {
	if b, ok := a.lookupImage(image); ok && b.Image != nil {
		return b.Image.ID()
	}
	return "nodeagent://" + image
}
