package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// LoadtestAnnotation is the Namespace annotation where `vactl loadtest`
// records its last report's outcome and `vactl check` reads it (the
// Production Checklist's "load test completed"). One annotation, not a
// history: the revisions and the report files are the history.
const LoadtestAnnotation = "vactl.voiceassist.io/last-loadtest"

// LoadtestRecord is what the annotation holds, as JSON.
type LoadtestRecord struct {
	// Time is when the run ended.
	Time time.Time `json:"time"`
	// Env is the environment the run targeted, when known.
	Env string `json:"env,omitempty"`
	// Target is what was loaded: api, worker or all.
	Target string `json:"target"`
	// Profile names the load shape (constant, ramp, step, spike, trace:FILE).
	Profile string `json:"profile"`
	// Verdict is "pass" when every SLO held and no request failed beyond
	// the allowed error rate, else "fail".
	Verdict string `json:"verdict"`
	// Summary is one line a human reads in `vactl check`.
	Summary string `json:"summary,omitempty"`
	// VactlVersion is the version of vactl that ran it.
	VactlVersion string `json:"vactlVersion,omitempty"`
}

// Validate says what is wrong with a record read from a cluster.
func (r LoadtestRecord) Validate() error {
	switch {
	case r.Time.IsZero():
		return fmt.Errorf("annotation %s: field time: missing", LoadtestAnnotation)
	case r.Verdict != "pass" && r.Verdict != "fail":
		return fmt.Errorf("annotation %s: field verdict: %q is neither pass nor fail", LoadtestAnnotation, r.Verdict)
	case r.Target == "":
		return fmt.Errorf("annotation %s: field target: missing", LoadtestAnnotation)
	}
	return nil
}

// RecordLoadtest writes rec on namespace ns (a merge patch of the one
// annotation, so nothing else of the Namespace is touched).
func (c *Client) RecordLoadtest(ctx context.Context, ns string, rec LoadtestRecord) error {
	if err := rec.Validate(); err != nil {
		return err
	}
	val, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{LoadtestAnnotation: string(val)}}})
	if err != nil {
		return err
	}
	if _, err := c.Kube.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("namespace %s: record loadtest: %w", ns, err)
	}
	return nil
}

// LastLoadtest reads the record on namespace ns; ok is false when there is
// none. A record that does not parse or validate is an error naming the
// namespace and the annotation.
func (c *Client) LastLoadtest(ctx context.Context, ns string) (rec LoadtestRecord, ok bool, err error) {
	n, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return rec, false, fmt.Errorf("namespace %s: %w", ns, err)
	}
	return LoadtestOf(n)
}

// LoadtestOf reads the record on Namespace n, as LastLoadtest does, for a
// caller that already got the Namespace.
func LoadtestOf(n *corev1.Namespace) (rec LoadtestRecord, ok bool, err error) {
	ns := n.Name
	val, ok := n.Annotations[LoadtestAnnotation]
	if !ok {
		return rec, false, nil
	}
	if err := json.Unmarshal([]byte(val), &rec); err != nil {
		return rec, false, fmt.Errorf("namespace %s: annotation %s: %w", ns, LoadtestAnnotation, err)
	}
	if err := rec.Validate(); err != nil {
		return rec, false, fmt.Errorf("namespace %s: %w", ns, err)
	}
	return rec, true, nil
}
