package cluster

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

// APIServiceGVR is the resource of an aggregated API's registration
// (v1beta1.metrics.k8s.io, v1beta1.external.metrics.k8s.io).
var APIServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// GetAPIService reads the APIService name. The error is the API's own
// (apierrors.IsNotFound when it is not registered), so each caller reports
// it in its own words.
func GetAPIService(ctx context.Context, dyn dynamic.Interface, name string) (*apiregistrationv1.APIService, error) {
	u, err := dyn.Resource(APIServiceGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	a := &apiregistrationv1.APIService{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, a); err != nil {
		return nil, fmt.Errorf("APIService %s: %w", name, err)
	}
	return a, nil
}

// AvailableCondition is the APIService's Available condition, nil when the
// aggregator has not set one. kube-apiserver serves the API only while its
// status is True; its reason and message name the cause otherwise
// (FailedDiscoveryCheck, MissingEndpoints, ServiceNotFound, …).
func AvailableCondition(a *apiregistrationv1.APIService) *apiregistrationv1.APIServiceCondition {
	for i := range a.Status.Conditions {
		if a.Status.Conditions[i].Type == apiregistrationv1.Available {
			return &a.Status.Conditions[i]
		}
	}
	return nil
}
