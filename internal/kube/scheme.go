// Package kube decodes rendered manifests strictly into the typed Go structs
// of the APIs they use — client-go's scheme, the VPA types and Prometheus
// Operator's monitoring types — and indexes them for the checks that follow.
package kube

import (
	"bytes"
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

// Scheme knows every kind our manifests may contain.
var Scheme = runtime.NewScheme()

var strictDecoder runtime.Decoder

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(vpav1.AddToScheme(Scheme))
	utilruntime.Must(monitoringv1.AddToScheme(Scheme))
	utilruntime.Must(apiregistrationv1.AddToScheme(Scheme))
	strictDecoder = serializer.NewCodecFactory(Scheme, serializer.EnableStrict).UniversalDeserializer()
}

// DecodeStrict decodes one YAML or JSON object into its typed struct.
// Unknown and duplicate fields are errors, as are kinds the scheme lacks.
func DecodeStrict(data []byte) (runtime.Object, schema.GroupVersionKind, error) {
	obj, gvk, err := strictDecoder.Decode(bytes.TrimSpace(data), nil, nil)
	if err != nil {
		if gvk != nil {
			return nil, *gvk, fmt.Errorf("%s: %w", gvk.Kind, err)
		}
		return nil, schema.GroupVersionKind{}, err
	}
	return obj, *gvk, nil
}
