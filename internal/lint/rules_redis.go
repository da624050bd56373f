package lint

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// redisSetting is one maxmemory or maxmemory-policy setting and where it is.
type redisSetting struct {
	key, value string
	obj        any    // the workload or ConfigMap that holds it
	field      string // JSON path
	where      string // "args", "redis.conf line 4"
}

func isRedis(ct *corev1.Container) bool {
	n := imageName(ct.Image)
	if i := strings.LastIndexByte(n, '/'); i >= 0 {
		n = n[i+1:]
	}
	if strings.HasPrefix(n, "redis") || strings.HasPrefix(n, "valkey") {
		return true
	}
	for _, a := range append(append([]string(nil), ct.Command...), ct.Args...) {
		if strings.HasSuffix(a, "redis-server") || strings.HasSuffix(a, "valkey-server") {
			return true
		}
	}
	return false
}

// argSettings reads "--maxmemory 768mb" and "--maxmemory-policy x" (also
// inside a "sh -c" string) from command and args.
func argSettings(w kube.Workload, cr containerRef) []redisSetting {
	var out []redisSetting
	scan := func(list []string, name string) {
		for i, a := range list {
			toks := []string{a}
			if strings.Contains(a, " ") {
				toks = strings.Fields(a)
			}
			for j, t := range toks {
				key, val, hasEq := strings.Cut(strings.TrimPrefix(t, "--"), "=")
				if !strings.HasPrefix(t, "--") || (key != "maxmemory" && key != "maxmemory-policy") {
					continue
				}
				field := w.SpecPath(fmt.Sprintf("%s.%s[%d]", cr.Path, name, i))
				switch {
				case hasEq:
				case j+1 < len(toks):
					val = toks[j+1]
				case len(toks) == 1 && i+1 < len(list):
					val = list[i+1]
					field = w.SpecPath(fmt.Sprintf("%s.%s[%d]", cr.Path, name, i+1))
				}
				out = append(out, redisSetting{key: key, value: strings.Trim(val, `"'`), obj: w, field: field, where: name})
			}
		}
	}
	scan(cr.C.Command, "command")
	scan(cr.C.Args, "args")
	return out
}

var confLine = regexp.MustCompile(`^\s*(maxmemory|maxmemory-policy)\s+(\S+)`)

// confSettings reads maxmemory settings from every key of a ConfigMap.
func confSettings(cm *corev1.ConfigMap) []redisSetting {
	var out []redisSetting
	keys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for i, line := range strings.Split(cm.Data[k], "\n") {
			if sm := confLine.FindStringSubmatch(line); sm != nil {
				out = append(out, redisSetting{key: strings.ToLower(sm[1]), value: strings.Trim(sm[2], `"'`), obj: cm,
					field: fmt.Sprintf("data[%s]", k), where: fmt.Sprintf("%s line %d", k, i+1)})
			}
		}
	}
	return out
}

// mountedConfigMaps lists the ConfigMaps a pod mounts.
func (c *Context) mountedConfigMaps(w kube.Workload) []*corev1.ConfigMap {
	names := map[string]bool{}
	for _, v := range w.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			names[v.ConfigMap.Name] = true
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					names[s.ConfigMap.Name] = true
				}
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	var out []*corev1.ConfigMap
	for _, cm := range c.Set.ConfigMaps {
		if cm.Namespace == w.Namespace && names[cm.Name] {
			out = append(out, cm)
		}
	}
	return out
}

var queueWords = []string{"queue", "jobs", "broker", "celery", "sidekiq", "bullmq"}

// usedAsQueue reports whether a Redis workload holds a queue: its name or
// labels say so, or a container elsewhere addresses it (by Service or
// workload name) and is configured with a queue.
func (c *Context) usedAsQueue(w kube.Workload) (bool, string) {
	texts := []string{w.Name}
	for k, v := range w.Template.Labels {
		texts = append(texts, k, v)
	}
	for _, t := range texts {
		for _, q := range queueWords {
			if strings.Contains(strings.ToLower(t), q) {
				return true, fmt.Sprintf("its name or labels say %q", q)
			}
		}
	}
	hosts := []string{w.Name}
	for _, s := range c.Set.Services {
		if s.Namespace == w.Namespace && len(s.Spec.Selector) > 0 {
			for _, m := range c.Set.PodsMatchingMap(w.Namespace, s.Spec.Selector) {
				if m.Obj == w.Obj {
					hosts = append(hosts, s.Name)
				}
			}
		}
	}
	for _, o := range c.Set.Workloads() {
		if o.Obj == w.Obj || o.Template == nil {
			continue
		}
		for _, cr := range running(&o.Template.Spec) {
			refers, queue := false, false
			for _, e := range cr.C.Env {
				for _, h := range hosts {
					refers = refers || strings.Contains(e.Value, h)
				}
				queue = queue || strings.Contains(strings.ToUpper(e.Name), "QUEUE")
			}
			if refers && queue {
				return true, fmt.Sprintf("%s reads a queue from it", o.Ref())
			}
		}
	}
	return false, ""
}

func (c *Context) redisSettings(w kube.Workload) []redisSetting {
	var out []redisSetting
	for _, cr := range running(&w.Template.Spec) {
		if !isRedis(cr.C) {
			continue
		}
		out = append(out, argSettings(w, cr)...)
		for _, cm := range c.mountedConfigMaps(w) {
			out = append(out, confSettings(cm)...)
		}
	}
	return out
}

func checkRedisEviction(c *Context) []Finding {
	var out []Finding
	for _, w := range c.Set.Workloads() {
		if w.Template == nil {
			continue
		}
		settings := c.redisSettings(w)
		if len(settings) == 0 {
			continue
		}
		queue, why := c.usedAsQueue(w)
		if !queue {
			continue
		}
		for _, s := range settings {
			if s.key != "maxmemory-policy" || strings.EqualFold(s.value, "noeviction") {
				continue
			}
			out = append(out, c.at(s.obj, s.field,
				fmt.Sprintf("%s holds a queue (%s) but runs with maxmemory-policy %s (%s): when memory fills, Redis deletes keys, and queued jobs vanish without an error", w.Ref(), why, s.value, s.where),
				"set maxmemory-policy noeviction: writes then fail loudly when memory is full, and no job is lost"))
		}
	}
	return out
}

// redisMemory is what Redis's memtoull accepts: digits and an optional
// unit b, k, kb, m, mb, g, gb in any case.
var redisMemory = regexp.MustCompile(`(?i)^[0-9]+(b|k|kb|m|mb|g|gb)?$`)

func checkRedisMaxmemoryUnit(c *Context) []Finding {
	var out []Finding
	seen := map[*corev1.ConfigMap]bool{}
	report := func(s redisSetting, who string) {
		if s.key != "maxmemory" || redisMemory.MatchString(s.value) {
			return
		}
		out = append(out, c.at(s.obj, s.field,
			fmt.Sprintf("%s: maxmemory %q (%s) is not a Redis memory size: Redis refuses to start (\"argument must be a memory value\"); it takes b, k, kb, m, mb, g, gb, not Kubernetes units like Mi", who, s.value, s.where),
			fmt.Sprintf("write the size in Redis units, e.g. %s", redisSuggestion(s.value))))
	}
	for _, w := range c.Set.Workloads() {
		if w.Template == nil {
			continue
		}
		for _, s := range c.redisSettings(w) {
			if cm, ok := s.obj.(*corev1.ConfigMap); ok {
				if seen[cm] {
					continue
				}
			}
			report(s, w.Ref())
		}
		for _, cm := range c.mountedConfigMaps(w) {
			seen[cm] = true
		}
	}
	// Redis configuration files no workload here mounts.
	for _, cm := range c.Set.ConfigMaps {
		if seen[cm] {
			continue
		}
		for k := range cm.Data {
			if strings.Contains(strings.ToLower(k), "redis") || strings.Contains(strings.ToLower(cm.Name), "redis") {
				for _, s := range confSettings(cm) {
					report(s, "ConfigMap "+qualified(cm.Namespace, cm.Name))
				}
				break
			}
		}
	}
	return out
}

func redisSuggestion(v string) string {
	re := regexp.MustCompile(`(?i)^([0-9]+)\s*(ki|mi|gi|kib|mib|gib)$`)
	if sm := re.FindStringSubmatch(v); sm != nil {
		return sm[1] + map[string]string{"ki": "kb", "kib": "kb", "mi": "mb", "mib": "mb", "gi": "gb", "gib": "gb"}[strings.ToLower(sm[2])]
	}
	return "768mb or 1gb"
}
