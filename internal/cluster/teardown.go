package cluster

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Data is what teardown keeps by default: the PersistentVolumeClaims in
// namespace voiceassist (the databases' data), the Secrets setup
// --create-secrets made (the password that data needs), and the Namespace
// that holds them.
type Data struct {
	PVCs, Secrets []string
	// Namespace: the namespace exists.
	Namespace bool
}

// ListData lists the Data in the cluster.
func (c *Client) ListData(ctx context.Context) (*Data, error) {
	d := &Data{}
	_, err := c.Kube.CoreV1().Namespaces().Get(ctx, Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return d, nil
	case err != nil:
		return nil, c.Explain(err)
	}
	d.Namespace = true
	pvcs, err := c.Kube.CoreV1().PersistentVolumeClaims(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, c.Explain(err)
	}
	for _, p := range pvcs.Items {
		d.PVCs = append(d.PVCs, p.Name)
	}
	// vactl's Secrets but the revisions (teardown deletes those anyway).
	secrets, err := c.Kube.CoreV1().Secrets(Namespace).List(ctx, metav1.ListOptions{LabelSelector: managedByLabel + "=vactl,!" + revisionLabel})
	if err != nil {
		return nil, c.Explain(err)
	}
	for _, s := range secrets.Items {
		d.Secrets = append(d.Secrets, s.Name)
	}
	return d, nil
}

// DeleteData deletes the Data (teardown --delete-data) and waits until the
// namespace is gone. With dryRun every delete is a server-side dry run:
// nothing changes, and the API server says whether each would be allowed.
// It returns what was (would be) deleted.
func (c *Client) DeleteData(ctx context.Context, dryRun bool) (*Data, error) {
	d, err := c.ListData(ctx)
	if err != nil || !d.Namespace {
		return d, err
	}
	opts := metav1.DeleteOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	for _, name := range d.PVCs {
		if err := c.Kube.CoreV1().PersistentVolumeClaims(Namespace).Delete(ctx, name, opts); err != nil && !apierrors.IsNotFound(err) {
			return d, fmt.Errorf("delete PersistentVolumeClaim %s/%s: %w", Namespace, name, c.Explain(err))
		}
	}
	for _, name := range d.Secrets {
		if err := c.Kube.CoreV1().Secrets(Namespace).Delete(ctx, name, opts); err != nil && !apierrors.IsNotFound(err) {
			return d, fmt.Errorf("delete Secret %s/%s: %w", Namespace, name, c.Explain(err))
		}
	}
	if err := c.Kube.CoreV1().Namespaces().Delete(ctx, Namespace, opts); err != nil && !apierrors.IsNotFound(err) {
		return d, fmt.Errorf("delete Namespace %s: %w", Namespace, c.Explain(err))
	}
	if dryRun {
		return d, nil
	}
	for {
		_, err := c.Kube.CoreV1().Namespaces().Get(ctx, Namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return d, nil
		}
		if err != nil {
			return d, c.Explain(err)
		}
		select {
		case <-ctx.Done():
			return d, fmt.Errorf("Namespace %s still terminating: %w", Namespace, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}
