package cluster

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kvalidation "k8s.io/kubectl/pkg/validation"
	"sigs.k8s.io/cli-utils/pkg/apply"
	"sigs.k8s.io/cli-utils/pkg/apply/event"
	"sigs.k8s.io/cli-utils/pkg/common"
	"sigs.k8s.io/cli-utils/pkg/inventory"
	pollevent "sigs.k8s.io/cli-utils/pkg/kstatus/polling/event"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/statusreaders"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/kstatus/watcher"
	"sigs.k8s.io/cli-utils/pkg/object"
	"sigs.k8s.io/cli-utils/pkg/object/validation"
)

// Inventory names a cli-utils inventory object (a ConfigMap): the record of
// what one vactl installation applied, which prune and teardown go by.
type Inventory struct {
	Name, Namespace, ID string
}

// AppInventory is VoiceAssist's: one per cluster (namespace voiceassist),
// whichever environment it runs, so `setup --env prod` over dev prunes
// what only dev had.
var AppInventory = Inventory{Name: "vactl-inventory", Namespace: Namespace, ID: "vactl-voiceassist"}

// MetricsServerInventory exists only where vactl installed metrics-server:
// teardown removes metrics-server only through it.
var MetricsServerInventory = Inventory{Name: "vactl-metrics-server-inventory", Namespace: "kube-system", ID: "vactl-metrics-server"}

func (i Inventory) info() inventory.Info {
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	cm.SetName(i.Name)
	cm.SetNamespace(i.Namespace)
	cm.SetLabels(map[string]string{common.InventoryLabel: i.ID})
	return inventory.WrapInventoryInfoObj(cm)
}

// Exists says whether the inventory object is in the cluster.
func (c *Client) InventoryExists(ctx context.Context, i Inventory) (bool, error) {
	_, err := c.Kube.CoreV1().ConfigMaps(i.Namespace).Get(ctx, i.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, c.Explain(err)
	}
	return true, nil
}

// InventoryObjects lists the objects the inventory records.
func (c *Client) InventoryObjects(i Inventory) (object.ObjMetadataSet, error) {
	ic, err := c.invClient()
	if err != nil {
		return nil, err
	}
	ids, err := ic.GetClusterObjs(i.info())
	return ids, c.Explain(err)
}

func (c *Client) invClient() (inventory.Client, error) {
	return inventory.ClusterClientFactory{StatusPolicy: inventory.StatusPolicyAll}.NewClient(c.Factory)
}

// ApplyOptions control one Apply.
type ApplyOptions struct {
	Inventory Inventory
	// Policy: whether objects already in the cluster that no inventory owns
	// may be taken over (VoiceAssist: yes, e.g. applied by kubectl before;
	// metrics-server: no, one vactl did not install is never touched).
	Policy         inventory.Policy
	DryRun         bool
	ForceConflicts bool
	// Timeout bounds the wait until every object is Current.
	Timeout time.Duration
	// StrictHPAMetrics: an HPA is Current only when every metric is known,
	// not just ScalingActive (false where the adapter is missing).
	StrictHPAMetrics bool
	// Progress gets one line per event worth telling.
	Progress io.Writer
}

// ApplyResult is what an Apply did.
type ApplyResult struct {
	Applied, Pruned, Current int
}

// Apply server-side-applies objs as one inventory with cli-utils' applier
// (field manager vactl), prunes what the inventory recorded and objs lack,
// and waits until everything is Current. Its error names every object that
// failed and why, and every object not ready at the timeout and why. The
// inventory records only what was actually applied, so a re-run continues.
func (c *Client) Apply(ctx context.Context, objs []*unstructured.Unstructured, o ApplyOptions) (*ApplyResult, error) {
	ic, err := c.invClient()
	if err != nil {
		return nil, err
	}
	sw := watcher.NewDefaultStatusWatcher(c.Dynamic, c.Mapper)
	sw.StatusReader = statusreaders.NewStatusReader(c.Mapper, newHPAStatusReader(c.Mapper, o.StrictHPAMetrics))
	applier, err := apply.NewApplierBuilder().WithFactory(c.Factory).WithInventoryClient(ic).WithStatusWatcher(sw).Build()
	if err != nil {
		return nil, err
	}
	dry := common.DryRunNone
	if o.DryRun {
		dry = common.DryRunServer
	}
	set := make(object.UnstructuredSet, 0, len(objs))
	for _, u := range objs {
		set = append(set, u.DeepCopy())
	}
	p := newProgress(o.Progress, o.DryRun)
	ch := applier.Run(ctx, o.Inventory.info(), set, apply.ApplierOptions{
		ServerSideOptions: common.ServerSideOptions{ServerSideApply: true, ForceConflicts: o.ForceConflicts, FieldManager: FieldManager},
		ReconcileTimeout:  o.Timeout,
		PruneTimeout:      o.Timeout,
		EmitStatusEvents:  true,
		DryRunStrategy:    dry,
		InventoryPolicy:   o.Policy,
		ValidationPolicy:  validation.ExitEarly,
	})
	for e := range ch {
		p.event(e)
	}
	return &ApplyResult{Applied: p.applied, Pruned: p.pruned, Current: p.current}, c.Explain(p.err(o.Timeout))
}

// DestroyOptions control one Destroy.
type DestroyOptions struct {
	DryRun   bool
	Timeout  time.Duration
	Progress io.Writer
}

// Destroy deletes every object the inventory records (except those
// annotated cli-utils.sigs.k8s.io/on-remove: keep), waits until they are
// gone, then deletes the inventory object. It returns the objects deleted.
//
// With DryRun it deletes nothing and returns what it would delete:
// cli-utils decides (inventory, keep annotations) without sending a
// delete, then each of those objects gets a server-side dry-run delete, so
// the API server checks the rights and admission as it would for real.
func (c *Client) Destroy(ctx context.Context, inv Inventory, o DestroyOptions) ([]object.ObjMetadata, error) {
	ic, err := c.invClient()
	if err != nil {
		return nil, err
	}
	d, err := apply.NewDestroyerBuilder().WithFactory(c.Factory).WithInventoryClient(ic).Build()
	if err != nil {
		return nil, err
	}
	dry := common.DryRunNone
	if o.DryRun {
		dry = common.DryRunServer
	}
	p := newProgress(o.Progress, o.DryRun)
	for e := range d.Run(ctx, inv.info(), apply.DestroyerOptions{
		InventoryPolicy:         inventory.PolicyMustMatch,
		DryRunStrategy:          dry,
		DeleteTimeout:           o.Timeout,
		DeletePropagationPolicy: metav1.DeletePropagationForeground,
		EmitStatusEvents:        false,
		ValidationPolicy:        validation.ExitEarly,
	}) {
		p.event(e)
	}
	if err := p.err(o.Timeout); err != nil || !o.DryRun {
		return p.plan, c.Explain(err)
	}
	var errs []string
	for _, id := range p.plan {
		if err := c.dryRunDelete(ctx, id); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return p.plan, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return p.plan, nil
}

// dryRunDelete sends a server-side dry-run delete of id: nothing changes;
// the API server says whether the delete would be allowed.
func (c *Client) dryRunDelete(ctx context.Context, id object.ObjMetadata) error {
	m, err := c.Mapper.RESTMapping(id.GroupKind)
	if err != nil {
		return fmt.Errorf("%s: %w", Ref(id), c.Explain(err))
	}
	fg := metav1.DeletePropagationForeground
	err = c.Dynamic.Resource(m.Resource).Namespace(id.Namespace).Delete(ctx, id.Name, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}, PropagationPolicy: &fg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("server-side dry run of deleting %s: %w", Ref(id), c.Explain(err))
	}
	return nil
}

// progress prints the applier's events as they come and collects what
// went wrong.
type progress struct {
	w      io.Writer
	start  time.Time
	dry    bool
	suffix string
	// plan are the objects pruned or deleted (in a dry run: that would be).
	plan                              []object.ObjMetadata
	applied, pruned, deleted, current int
	failures                          []string
	errs                              []string
	notReady                          map[object.ObjMetadata]bool
	last                              map[object.ObjMetadata]*pollevent.ResourceStatus
}

func newProgress(w io.Writer, dry bool) *progress {
	if w == nil {
		w = io.Discard
	}
	p := &progress{w: w, start: time.Now(), notReady: map[object.ObjMetadata]bool{}, last: map[object.ObjMetadata]*pollevent.ResourceStatus{}}
	if dry {
		p.dry, p.suffix = true, " (server dry run)"
	}
	return p
}

// Ref names an object as vactl's messages do: "Kind namespace/name".
func Ref(id object.ObjMetadata) string {
	if id.Namespace == "" {
		return id.GroupKind.Kind + " " + id.Name
	}
	return id.GroupKind.Kind + " " + id.Namespace + "/" + id.Name
}

func (p *progress) printf(format string, args ...any) {
	fmt.Fprintf(p.w, "[%5.1fs] ", time.Since(p.start).Seconds())
	fmt.Fprintf(p.w, format, args...)
	fmt.Fprintln(p.w)
}

func (p *progress) event(e event.Event) {
	switch e.Type {
	case event.ErrorType:
		p.errs = append(p.errs, e.ErrorEvent.Err.Error())
	case event.ValidationType:
		var refs []string
		for _, id := range e.ValidationEvent.Identifiers {
			refs = append(refs, Ref(id))
		}
		p.errs = append(p.errs, fmt.Sprintf("%s: %v", strings.Join(refs, ", "), e.ValidationEvent.Error))
	case event.ApplyType:
		ae := e.ApplyEvent
		switch ae.Status {
		case event.ApplySuccessful:
			p.applied++
			p.printf("applied %s%s", Ref(ae.Identifier), p.suffix)
		case event.ApplyFailed:
			err, _ := resourceHint(ae.Error, ae.Identifier.GroupKind)
			p.failures = append(p.failures, fmt.Sprintf("apply %s: %v", Ref(ae.Identifier), err))
			p.printf("FAILED  %s: %v", Ref(ae.Identifier), err)
		case event.ApplySkipped:
			p.failures = append(p.failures, fmt.Sprintf("apply %s skipped: %v", Ref(ae.Identifier), ae.Error))
			p.printf("skipped %s: %v", Ref(ae.Identifier), ae.Error)
		}
	case event.PruneType:
		pe := e.PruneEvent
		switch pe.Status {
		case event.PruneSuccessful:
			p.pruned++
			p.plan = append(p.plan, pe.Identifier)
			if p.dry {
				// cli-utils sends no delete in a dry run: it only decides.
				p.printf("would prune %s (dry run)", Ref(pe.Identifier))
			} else {
				p.printf("pruned  %s", Ref(pe.Identifier))
			}
		case event.PruneFailed:
			p.failures = append(p.failures, fmt.Sprintf("prune %s: %v", Ref(pe.Identifier), pe.Error))
			p.printf("FAILED  prune %s: %v", Ref(pe.Identifier), pe.Error)
		case event.PruneSkipped:
			p.printf("kept    %s: %v", Ref(pe.Identifier), pe.Error)
		}
	case event.DeleteType:
		de := e.DeleteEvent
		switch de.Status {
		case event.DeleteSuccessful:
			p.deleted++
			p.plan = append(p.plan, de.Identifier)
			if p.dry {
				p.printf("would delete %s (dry run)", Ref(de.Identifier))
			} else {
				p.printf("deleted %s", Ref(de.Identifier))
			}
		case event.DeleteFailed:
			p.failures = append(p.failures, fmt.Sprintf("delete %s: %v", Ref(de.Identifier), de.Error))
			p.printf("FAILED  delete %s: %v", Ref(de.Identifier), de.Error)
		case event.DeleteSkipped:
			p.printf("kept    %s: %v", Ref(de.Identifier), de.Error)
		}
	case event.StatusType:
		se := e.StatusEvent
		rs := se.PollResourceInfo
		if rs == nil {
			return
		}
		if prev := p.last[se.Identifier]; prev != nil && prev.Status == rs.Status && prev.Message == rs.Message {
			return
		}
		p.last[se.Identifier] = rs
		if rs.Status == status.CurrentStatus {
			p.printf("ready   %s: %s", Ref(se.Identifier), rs.Message)
		} else if rs.Status != status.NotFoundStatus || p.applied == 0 {
			p.printf("waiting %s: %s %s", Ref(se.Identifier), rs.Status, rs.Message)
		}
	case event.WaitType:
		we := e.WaitEvent
		switch we.Status {
		case event.ReconcileSuccessful:
			p.current++
		case event.ReconcileTimeout, event.ReconcileFailed:
			p.notReady[we.Identifier] = true
		}
	}
}

// err sums up what went wrong, nil when nothing did.
func (p *progress) err(timeout time.Duration) error {
	var lines []string
	lines = append(lines, p.errs...)
	lines = append(lines, p.failures...)
	var waiting []string
	for id := range p.notReady {
		why := "no status yet"
		if rs := p.last[id]; rs != nil {
			why = fmt.Sprintf("%s: %s", rs.Status, rs.Message)
		}
		waiting = append(waiting, fmt.Sprintf("%s (%s)", Ref(id), why))
	}
	sort.Strings(waiting)
	if len(waiting) > 0 {
		lines = append(lines, fmt.Sprintf("not ready after %s: %s", timeout, strings.Join(waiting, "; ")))
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
}

// ApplyOne server-side-applies one object as vactl, outside any inventory
// run (setup's Namespace before the Secrets it creates; the next inventory
// run adopts it).
func (c *Client) ApplyOne(ctx context.Context, u *unstructured.Unstructured) error {
	gvk := u.GroupVersionKind()
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return c.Explain(err)
	}
	ri := c.Dynamic.Resource(m.Resource).Namespace(u.GetNamespace())
	if _, err := ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, u.GetName(), c.Explain(err))
	}
	return nil
}

// MissingNamespaces lists the namespaces objs are in that the cluster does
// not have yet (sorted). A server-side dry run of an object in such a
// namespace is rejected (NamespaceLifecycle admission: the namespace is not
// created by a dry run of its Namespace), so setup --dry-run=server checks
// those objects with DryRunNewNamespace instead.
func (c *Client) MissingNamespaces(ctx context.Context, objs []*unstructured.Unstructured) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, u := range objs {
		ns := u.GetNamespace()
		if ns == "" || seen[ns] {
			continue
		}
		seen[ns] = true
		_, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			out = append(out, ns)
		case err != nil:
			return nil, fmt.Errorf("namespace %s: %w", ns, c.Explain(err))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Checked says how a dry run without the namespace checked each object.
type Checked struct {
	// DryRun: server-side dry runs (cluster-scoped objects, the Namespace
	// itself, objects in namespaces that exist): defaulting, admission,
	// validation, all of it.
	DryRun int
	// Schema: objects in a missing namespace, validated as kubectl's
	// client-side --validate=strict does, against the server's OpenAPI
	// (fields known, types, required fields), without admission.
	Schema int
}

// DryRunNewNamespace is the dry run of objs when some of their namespaces
// (missing, from MissingNamespaces) do not exist: the API server cannot
// dry-run an object in a namespace that does not exist, and a dry run of
// the Namespace creates nothing. So every object it can take (the
// Namespace, cluster-scoped objects, objects in existing namespaces) gets
// a server-side dry run (as vactl's field manager, fieldValidation=Strict);
// an object in a missing namespace is validated against the schema the
// server publishes (/openapi/v2, including the CRDs'), with kubectl's own
// validator (k8s.io/kubectl/pkg/validation, as `kubectl apply
// --validate=strict` without server-side field validation). Each object's
// line says which of the two checked it. Nothing changes in the cluster.
// The error names every object rejected and why.
func (c *Client) DryRunNewNamespace(ctx context.Context, objs []*unstructured.Unstructured, missing []string, force bool, out io.Writer) (Checked, error) {
	var res Checked
	if out == nil {
		out = io.Discard
	}
	gone := map[string]bool{}
	for _, ns := range missing {
		gone[ns] = true
	}
	var errs []string
	for _, u := range objs {
		id := object.UnstructuredToObjMetadata(u)
		gvk := u.GroupVersionKind()
		if !gone[u.GetNamespace()] {
			m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err == nil {
				_, err = c.Dynamic.Resource(m.Resource).Namespace(u.GetNamespace()).Apply(ctx, u.GetName(), u,
					metav1.ApplyOptions{FieldManager: FieldManager, Force: force, DryRun: []string{metav1.DryRunAll}})
			}
			if err != nil {
				errs = append(errs, fmt.Sprintf("server-side dry run of %s: %v", Ref(id), c.explainResource(err, gvk.GroupKind())))
				fmt.Fprintf(out, "FAILED    %s: %v\n", Ref(id), c.explainResource(err, gvk.GroupKind()))
				continue
			}
			res.DryRun++
			fmt.Fprintf(out, "dry run   %s: accepted by a server-side dry run\n", Ref(id))
			continue
		}
		if err := c.validateSchema(u); err != nil {
			errs = append(errs, fmt.Sprintf("schema validation of %s: %v", Ref(id), err))
			fmt.Fprintf(out, "FAILED    %s: %v\n", Ref(id), err)
			continue
		}
		res.Schema++
		fmt.Fprintf(out, "validated %s: schema only (the server's OpenAPI; namespace %s does not exist yet, so no server-side dry run)\n", Ref(id), u.GetNamespace())
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return res, nil
}

// validateSchema validates u against the server's OpenAPI schema
// (/openapi/v2, the CRDs' included) with kubectl's client-side validator
// (unknown fields, types, required fields); a kind the schema lacks is an
// error, not skipped as kubectl skips it.
func (c *Client) validateSchema(u *unstructured.Unstructured) error {
	resources, err := c.Factory.OpenAPISchema()
	if err != nil {
		return fmt.Errorf("reading the server's OpenAPI schema: %w", c.Explain(err))
	}
	if resources.LookupResource(u.GroupVersionKind()) == nil {
		return fmt.Errorf("the server's OpenAPI schema has no %s: not validated", u.GroupVersionKind())
	}
	data, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	return kvalidation.ConjunctiveSchema{kvalidation.NewSchemaValidation(c.Factory), kvalidation.NoDoubleKeySchema{}}.ValidateBytes(data)
}
