//go:build e2e

package nodeagent

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The pod's volumes: a directory per volume (emptyDir, PVC, hostPath,
// configMap, secret) and the container paths mapped onto them.

// prepareVolumes makes a directory for each volume: emptyDir under the
// pod's directory, a PVC at its PersistentVolume's hostPath (or local
// path), hostPath as is, configMap and secret volumes written out as
// files. Other kinds get an empty directory.
func (w *podWorker) prepareVolumes(p *corev1.Pod) error {
	owner, group := -1, -1
	for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		bin, _ := w.a.lookupImage(c.Image)
		if uid, gid, err := runAs(p, &c, bin); err == nil && uid > 0 {
			owner, group = uid, gid
		}
	}
	if sc := p.Spec.SecurityContext; sc != nil && sc.FSGroup != nil && owner < 0 {
		group = int(*sc.FSGroup)
	}
	for _, v := range p.Spec.Volumes {
		dir, err := w.volumeDir(p, v)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if v.HostPath == nil && (owner >= 0 || group >= 0) {
			os.Chown(dir, owner, group)
		}
		switch {
		case v.ConfigMap != nil:
			cm, err := w.a.Client.CoreV1().ConfigMaps(p.Namespace).Get(w.ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && v.ConfigMap.Optional != nil && *v.ConfigMap.Optional {
					continue
				}
				return fmt.Errorf("volume %s: configmap %s: %w", v.Name, v.ConfigMap.Name, err)
			}
			data := map[string][]byte{}
			for k, s := range cm.Data {
				data[k] = []byte(s)
			}
			for k, b := range cm.BinaryData {
				data[k] = b
			}
			if err := writeKeys(dir, data, v.ConfigMap.Items); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case v.Secret != nil:
			s, err := w.a.Client.CoreV1().Secrets(p.Namespace).Get(w.ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && v.Secret.Optional != nil && *v.Secret.Optional {
					continue
				}
				return fmt.Errorf("volume %s: secret %s: %w", v.Name, v.Secret.SecretName, err)
			}
			if err := writeKeys(dir, s.Data, v.Secret.Items); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
		}
	}
	return nil
}

func writeKeys(dir string, data map[string][]byte, items []corev1.KeyToPath) error {
	if len(items) == 0 {
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("no key %q", it.Key)
		}
		path := filepath.Join(dir, filepath.Clean("/"+it.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (w *podWorker) volumeDir(p *corev1.Pod, v corev1.Volume) (string, error) {
	switch {
	case v.HostPath != nil:
		return v.HostPath.Path, nil
	case v.PersistentVolumeClaim != nil:
		claim := v.PersistentVolumeClaim.ClaimName
		pvc, err := w.a.Client.CoreV1().PersistentVolumeClaims(p.Namespace).Get(w.ctx, claim, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("volume %s: claim %s: %w", v.Name, claim, err)
		}
		if pvc.Spec.VolumeName == "" {
			return "", fmt.Errorf("volume %s: claim %s is not bound yet", v.Name, claim)
		}
		pv, err := w.a.Client.CoreV1().PersistentVolumes().Get(w.ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("volume %s: %w", v.Name, err)
		}
		switch {
		case pv.Spec.HostPath != nil:
			return pv.Spec.HostPath.Path, nil
		case pv.Spec.Local != nil:
			return pv.Spec.Local.Path, nil
		}
		return "", fmt.Errorf("volume %s: PersistentVolume %s is neither hostPath nor local", v.Name, pv.Name)
	}
	return filepath.Join(w.dir, "volumes", v.Name), nil
}

// mounts maps a container's mount paths to host directories, longest
// first.
func (w *podWorker) mounts(p *corev1.Pod, c *corev1.Container) ([]mountMap, error) {
	var out []mountMap
	for _, m := range c.VolumeMounts {
		var vol *corev1.Volume
		for i := range p.Spec.Volumes {
			if p.Spec.Volumes[i].Name == m.Name {
				vol = &p.Spec.Volumes[i]
			}
		}
		if vol == nil {
			// StatefulSet claims appear as volumes named after the template.
			return nil, fmt.Errorf("volumeMount %s: no such volume", m.Name)
		}
		dir, err := w.volumeDir(p, *vol)
		if err != nil {
			return nil, err
		}
		if m.SubPath != "" {
			dir = filepath.Join(dir, filepath.Clean("/"+m.SubPath))
			os.MkdirAll(dir, 0o755)
		}
		out = append(out, mountMap{container: filepath.Clean(m.MountPath), host: dir})
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i].container) > len(out[j].container) })
	return out, nil
}
