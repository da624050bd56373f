package cluster

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/common"
	"sigs.k8s.io/kustomize/api/resmap"
)

// Objects converts a kustomize build into the objects to apply. Through
// JSON, so numbers are int64/float64 as unstructured wants (kyaml's own
// maps hold int).
func Objects(m resmap.ResMap) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, r := range m.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err)
		}
		out = append(out, u)
	}
	return out, nil
}

// KeepNamespace marks the Namespace objects so that prune and teardown
// never delete them: deleting the namespace would delete its
// PersistentVolumeClaims (the databases' data), which only
// `teardown --delete-data` may do.
func KeepNamespace(objs []*unstructured.Unstructured) {
	for _, u := range objs {
		if u.GetKind() == "Namespace" && u.GetAPIVersion() == "v1" {
			a := u.GetAnnotations()
			if a == nil {
				a = map[string]string{}
			}
			a[common.OnRemoveAnnotation] = common.OnRemoveKeep
			u.SetAnnotations(a)
		}
	}
}
