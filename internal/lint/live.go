package lint

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Live makes an input of objects read from a cluster (`vactl lint --live`).
// The objects should hold only what was set on them (cluster.Declared), not
// what the API server defaulted or controllers wrote, so rules written for
// manifests read them as they read a file. They have no file or line:
// findings name the object and the field.
func Live(name string, objs []*unstructured.Unstructured, bases ...*Input) (*Input, error) {
	in := &Input{Name: name, Bases: bases}
	for _, u := range objs {
		o, err := decodeMap(u.DeepCopy().Object)
		if err != nil {
			return nil, &InputError{File: name, Err: fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)}
		}
		in.Objects = append(in.Objects, o)
	}
	return in, nil
}
