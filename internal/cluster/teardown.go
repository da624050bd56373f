package cluster

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeleteData deletes what teardown keeps by default: the
// PersistentVolumeClaims in namespace voiceassist (the databases' data),
// the Secrets setup --create-secrets made, and the namespace itself, and
// waits until the namespace is gone. It returns the names of the PVCs.
func (c *Client) DeleteData(ctx context.Context) ([]string, error) {
	pvcs, err := c.Kube.CoreV1().PersistentVolumeClaims(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, c.Explain(err)
	}
	var names []string
	if pvcs != nil {
		for _, p := range pvcs.Items {
			if err := c.Kube.CoreV1().PersistentVolumeClaims(Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return names, fmt.Errorf("delete PersistentVolumeClaim %s/%s: %w", Namespace, p.Name, c.Explain(err))
			}
			names = append(names, p.Name)
		}
	}
	if err := c.Kube.CoreV1().Secrets(Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: managedByLabel + "=vactl"}); err != nil && !apierrors.IsNotFound(err) {
		return names, c.Explain(err)
	}
	if err := c.Kube.CoreV1().Namespaces().Delete(ctx, Namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return names, fmt.Errorf("delete Namespace %s: %w", Namespace, c.Explain(err))
	}
	for {
		_, err := c.Kube.CoreV1().Namespaces().Get(ctx, Namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return names, nil
		}
		if err != nil {
			return names, c.Explain(err)
		}
		select {
		case <-ctx.Done():
			return names, fmt.Errorf("Namespace %s still terminating: %w", Namespace, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}
