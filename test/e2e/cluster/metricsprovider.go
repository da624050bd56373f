//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// The metrics provider (test/e2e/metricsprovider) as the aggregation layer
// finds it: Service kube-system/voiceassist-metrics-provider, and the
// APIServices it serves (custom-metrics-apiserver serves
// custom.metrics.k8s.io in v1beta1 and v1beta2). docs/metrics-provider.md.
const (
	MetricsProviderService   = "voiceassist-metrics-provider"
	MetricsProviderNamespace = "kube-system"
)

// MetricsAPIServices names the provider's APIServices ("v1beta1.custom.metrics.k8s.io", …).
var MetricsAPIServices = []string{"v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io", "v1beta1.external.metrics.k8s.io"}

// RegisterMetricsProvider makes the aggregation layer route
// custom.metrics.k8s.io and external.metrics.k8s.io to the provider at
// ip:port: a selector-less Service, an EndpointSlice with the address
// (kube-apiserver runs with --enable-aggregator-routing, so it dials the
// endpoint, not a ClusterIP; there is no kube-proxy), and the APIServices.
// The provider's certificate is self-signed, hence insecureSkipTLSVerify.
// What already exists is left as it is.
func RegisterMetricsProvider(ctx context.Context, cs kubernetes.Interface, ip string, port int32) error {
	name, ns := MetricsProviderService, MetricsProviderNamespace
	_, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/part-of": "voiceassist-e2e"}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(port)}}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("Service %s/%s: %w", ns, name, err)
	}
	_, err = cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "voiceassist-e2e"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("EndpointSlice %s/%s: %w", ns, name, err)
	}
	for _, as := range MetricsAPIServices {
		version, group, _ := strings.Cut(as, ".")
		body := fmt.Sprintf(`{"apiVersion":"apiregistration.k8s.io/v1","kind":"APIService","metadata":{"name":"%s"},`+
			`"spec":{"group":"%s","version":"%s","groupPriorityMinimum":100,"versionPriority":100,"insecureSkipTLSVerify":true,`+
			`"service":{"name":"%s","namespace":"%s","port":443}}}`, as, group, version, name, ns)
		err := cs.Discovery().RESTClient().Post().AbsPath("/apis/apiregistration.k8s.io/v1/apiservices").
			SetHeader("Content-Type", "application/json").Body([]byte(body)).Do(ctx).Error()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("APIService %s: %w", as, err)
		}
	}
	return nil
}
