package ociimage

import (
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// RefNameAnnotation names an image inside an OCI layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// WriteLayout writes img as the only image of a new OCI image layout at dir
// (anything there before is removed, so no stale blob stays behind), its
// index entry annotated with ref. `crane push DIR REF` pushes exactly this
// manifest: the digest in the registry is img's digest.
func WriteLayout(dir string, img v1.Image, ref name.Reference) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{RefNameAnnotation: ref.String()})); err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	return nil
}

// ReadLayout returns the one image of the OCI layout at dir and the
// reference its index names.
func ReadLayout(dir string) (v1.Image, string, error) {
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, "", fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, "", fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	if len(im.Manifests) != 1 {
		return nil, "", fmt.Errorf("OCI layout %s: index.json lists %d manifests, want 1", dir, len(im.Manifests))
	}
	d := im.Manifests[0]
	img, err := ii.Image(d.Digest)
	if err != nil {
		return nil, "", fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	return img, d.Annotations[RefNameAnnotation], nil
}

// WriteTarball writes img as a `docker save` tarball tagged ref, for
// `docker load`. Tools that push such a tarball rebuild its manifest (with
// Docker media types), so its registry digest differs from img's: push the
// OCI layout to keep the digest.
func WriteTarball(file string, img v1.Image, ref name.Tag) error {
	if err := tarball.WriteToFile(file, ref, img); err != nil {
		return fmt.Errorf("image tarball %s: %w", file, err)
	}
	return nil
}
