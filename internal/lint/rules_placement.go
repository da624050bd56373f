package lint

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
)

// clusterComponents are add-ons whose upstream manifests live in
// kube-system and refer to it (metrics-server reads
// extension-apiserver-authentication there).
var clusterComponents = map[string]bool{"metrics-server": true, "coredns": true, "kube-dns": true, "kube-proxy": true}

func checkComponentMoved(c *Context) []Finding {
	var out []Finding
	for _, o := range c.Input.Objects {
		if o.Namespace == "" || o.Namespace == "kube-system" {
			continue
		}
		if rb, ok := o.Obj.(*rbacv1.RoleBinding); ok && rb.RoleRef.Kind == "Role" && rb.RoleRef.Name == "extension-apiserver-authentication-reader" {
			out = append(out, c.at(o, "metadata.namespace",
				fmt.Sprintf("RoleBinding to Role extension-apiserver-authentication-reader in namespace %s: that Role exists only in kube-system, so the aggregated API server (metrics-server) cannot read its client CA and every metrics request fails", o.Namespace),
				"keep this RoleBinding in kube-system: remove the kustomization's global namespace: and set each object's namespace in its own file"))
			continue
		}
		acc, err := meta.Accessor(o.Obj)
		if err != nil {
			continue
		}
		comp := ""
		switch {
		case clusterComponents[o.Name]:
			comp = o.Name
		case clusterComponents[acc.GetLabels()["k8s-app"]]:
			comp = acc.GetLabels()["k8s-app"]
		}
		if comp == "" {
			continue
		}
		out = append(out, c.at(o, "metadata.namespace",
			fmt.Sprintf("%s is a cluster component but sits in namespace %s, not kube-system: a global namespace: moved it, and its APIService, RBAC and clients still expect kube-system, so the HPAs get no metrics", comp, o.Namespace),
			"remove the kustomization's global namespace: (set metadata.namespace in each file instead) so the component stays in kube-system"))
	}
	return out
}

func checkAPIServiceService(c *Context) []Finding {
	var out []Finding
	for _, a := range c.Set.APIServices {
		s := a.Spec.Service
		if s == nil {
			continue
		}
		port := int32(443)
		if s.Port != nil {
			port = *s.Port
		}
		var svc *corev1.Service
		for _, cand := range c.Set.Services {
			if cand.Namespace == s.Namespace && cand.Name == s.Name {
				svc = cand
			}
		}
		if svc == nil {
			out = append(out, c.at(a, "spec.service", fmt.Sprintf("APIService %s points at Service %s/%s, which is not in these manifests: the API group is unavailable, kubectl top and every HPA using it fail", a.Name, s.Namespace, s.Name),
				"point spec.service at the Service that fronts the API server (a global namespace: may have moved it), or add that Service"))
			continue
		}
		found := false
		for _, p := range svc.Spec.Ports {
			found = found || p.Port == port
		}
		if !found {
			out = append(out, c.at(a, "spec.service.port", fmt.Sprintf("APIService %s uses port %d, which Service %s/%s does not expose", a.Name, port, s.Namespace, s.Name),
				"set spec.service.port to one of the Service's ports"))
		}
	}
	return out
}
