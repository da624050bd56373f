package cluster

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	sigyaml "sigs.k8s.io/yaml"
)

// Revisions are recorded as one Secret per applied revision in namespace
// voiceassist: a Secret, not a ConfigMap, because the rendered objects can
// hold Secrets (dev's generated database password). The objects are a
// gzip'd YAML stream, so rollback needs nothing local.
const (
	revisionLabel     = "vactl.voiceassist.io/revision"
	managedByLabel    = "app.kubernetes.io/managed-by"
	revisionType      = "vactl.voiceassist.io/revision"
	revisionKey       = "objects.yaml.gz"
	annEnv            = "vactl.voiceassist.io/env"
	annVersion        = "vactl.voiceassist.io/vactl-version"
	annTime           = "vactl.voiceassist.io/applied-at"
	annNote           = "vactl.voiceassist.io/note"
	annObjects        = "vactl.voiceassist.io/objects"
	revisionsSelector = managedByLabel + "=vactl," + revisionLabel
)

// KeepRevisions is how many revisions stay recorded; older ones are deleted.
const KeepRevisions = 10

// Revision is one recorded apply.
type Revision struct {
	Number  int       `json:"revision"`
	Env     string    `json:"env"`
	Time    time.Time `json:"time"`
	Version string    `json:"vactlVersion"`
	Objects int       `json:"objects"`
	Note    string    `json:"note,omitempty"`

	secret *corev1.Secret
}

func revisionName(n int) string { return fmt.Sprintf("vactl-revision-%d", n) }

// Revisions lists the recorded revisions, oldest first.
func (c *Client) Revisions(ctx context.Context) ([]Revision, error) {
	l, err := c.Kube.CoreV1().Secrets(Namespace).List(ctx, metav1.ListOptions{LabelSelector: revisionsSelector})
	if err != nil {
		return nil, c.Explain(err)
	}
	var out []Revision
	for i := range l.Items {
		s := &l.Items[i]
		n, err := strconv.Atoi(s.Labels[revisionLabel])
		if err != nil {
			return nil, fmt.Errorf("Secret %s/%s: label %s=%q: not a revision number", s.Namespace, s.Name, revisionLabel, s.Labels[revisionLabel])
		}
		t, _ := time.Parse(time.RFC3339, s.Annotations[annTime])
		objs, _ := strconv.Atoi(s.Annotations[annObjects])
		out = append(out, Revision{Number: n, Env: s.Annotations[annEnv], Time: t, Version: s.Annotations[annVersion],
			Objects: objs, Note: s.Annotations[annNote], secret: s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// RecordRevision stores objs as the next revision and deletes all but the
// newest KeepRevisions. It runs only after an apply succeeded, so a
// recorded revision is always one that was applied whole.
func (c *Client) RecordRevision(ctx context.Context, env, note string, objs []*unstructured.Unstructured) (int, error) {
	revs, err := c.Revisions(ctx)
	if err != nil {
		return 0, err
	}
	n := 1
	if len(revs) > 0 {
		n = revs[len(revs)-1].Number + 1
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, u := range objs {
		y, err := sigyaml.Marshal(u.Object)
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(zw, "---\n%s", y)
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: revisionName(n), Namespace: Namespace,
			Labels: map[string]string{managedByLabel: "vactl", revisionLabel: strconv.Itoa(n)},
			Annotations: map[string]string{
				annEnv: env, annVersion: ReadBuildInfo().String(), annTime: time.Now().UTC().Format(time.RFC3339),
				annObjects: strconv.Itoa(len(objs)), annNote: note,
			},
		},
		Type: revisionType,
		Data: map[string][]byte{revisionKey: buf.Bytes()},
	}
	if _, err := c.Kube.CoreV1().Secrets(Namespace).Create(ctx, s, metav1.CreateOptions{FieldManager: FieldManager}); err != nil {
		return 0, fmt.Errorf("recording revision %d: %w", n, c.Explain(err))
	}
	revs = append(revs, Revision{Number: n})
	for len(revs) > KeepRevisions {
		if err := c.Kube.CoreV1().Secrets(Namespace).Delete(ctx, revisionName(revs[0].Number), metav1.DeleteOptions{}); err != nil {
			return n, fmt.Errorf("deleting revision %d (keeping %d): %w", revs[0].Number, KeepRevisions, c.Explain(err))
		}
		revs = revs[1:]
	}
	return n, nil
}

// RevisionObjects decodes the objects a revision recorded.
func (r Revision) RevisionObjects() ([]*unstructured.Unstructured, error) {
	zr, err := gzip.NewReader(bytes.NewReader(r.secret.Data[revisionKey]))
	if err != nil {
		return nil, fmt.Errorf("revision %d (Secret %s/%s): %w", r.Number, Namespace, r.secret.Name, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("revision %d: %w", r.Number, err)
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("revision %d: %w", r.Number, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
	return out, nil
}

// DeleteRevisions deletes every recorded revision (teardown) and returns
// their numbers. With dryRun each delete is a server-side dry run.
func (c *Client) DeleteRevisions(ctx context.Context, dryRun bool) ([]int, error) {
	revs, err := c.Revisions(ctx)
	if err != nil {
		return nil, err
	}
	opts := metav1.DeleteOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var out []int
	for _, r := range revs {
		if err := c.Kube.CoreV1().Secrets(Namespace).Delete(ctx, r.secret.Name, opts); err != nil {
			return out, fmt.Errorf("delete revision %d (Secret %s/%s): %w", r.Number, Namespace, r.secret.Name, c.Explain(err))
		}
		out = append(out, r.Number)
	}
	return out, nil
}
