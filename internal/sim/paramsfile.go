package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// LoadParams overrides p with the fields a YAML (or JSON) file sets.
// Decoding is strict: an unknown or duplicate field, or a value of the wrong
// type, is an error that names the file and the field's path.
func LoadParams(p *Params, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := decodeParams(p, data); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// SetParam overrides one field given as "path=value", for example
// "gateway.cpuPerRPS=4"; value is a YAML scalar.
func SetParam(p *Params, assignment string) error {
	key, value, ok := strings.Cut(assignment, "=")
	if !ok || key == "" {
		return fmt.Errorf("--set %q: want path=value, e.g. gateway.cpuPerRPS=4", assignment)
	}
	var raw any
	if yamlv3.Unmarshal([]byte(value), &raw) == nil {
		if f, ok := raw.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return fmt.Errorf("--set %s: %q is not a finite number", key, value)
		}
	}
	var v any
	if err := yaml.Unmarshal([]byte(value), &v); err != nil {
		return fmt.Errorf("--set %s: %w", key, err)
	}
	parts := strings.Split(key, ".")
	var doc any = v
	for i := len(parts) - 1; i >= 0; i-- {
		doc = map[string]any{parts[i]: doc}
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if err := decodeParams(p, data); err != nil {
		return fmt.Errorf("--set %s: %w", key, err)
	}
	return nil
}

func decodeParams(p *Params, data []byte) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		if path := nonFinite(data); path != "" {
			return fmt.Errorf("%s: not a finite number (.nan, .inf)", path)
		}
		return err
	}
	if len(bytes.TrimSpace(j)) == 0 || string(bytes.TrimSpace(j)) == "null" {
		return nil
	}
	var tree any
	if err := json.Unmarshal(j, &tree); err != nil {
		return err
	}
	if err := knownFields(tree, reflect.TypeFor[Params](), ""); err != nil {
		return err
	}
	if err := json.Unmarshal(j, p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("%s: %s is not a valid %s", te.Field, te.Value, te.Type)
		}
		return err
	}
	return nil
}

// knownFields reports the first key of tree that t has no field for, by its path.
func knownFields(tree any, t reflect.Type, path string) error {
	if t.Kind() != reflect.Struct {
		return nil
	}
	m, ok := tree.(map[string]any)
	if !ok {
		if path == "" {
			return errors.New("want a mapping of parameters")
		}
		return fmt.Errorf("%s: want a mapping", path)
	}
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		fields[name] = f.Type
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := k
		if path != "" {
			p = path + "." + k
		}
		ft, ok := fields[k]
		if !ok {
			known := make([]string, 0, len(fields))
			for n := range fields {
				known = append(known, n)
			}
			sort.Strings(known)
			return fmt.Errorf("%s: unknown field (known here: %s)", p, strings.Join(known, ", "))
		}
		if err := knownFields(m[k], ft, p); err != nil {
			return err
		}
	}
	return nil
}

// flatten lists every parameter as path → value in YAML scalar form.
func flatten(p Params) map[string]string {
	data, _ := json.Marshal(p)
	var tree map[string]any
	_ = json.Unmarshal(data, &tree)
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				walk(strings.TrimPrefix(prefix+"."+k, "."), x)
			}
			return
		}
		out[prefix] = fmt.Sprint(v)
	}
	walk("", tree)
	return out
}

// nonFinite returns the path of the first .nan or .inf value in a YAML
// document, which JSON cannot carry, or "".
func nonFinite(data []byte) string {
	var tree any
	if yamlv3.Unmarshal(data, &tree) != nil {
		return ""
	}
	var walk func(prefix string, v any) string
	walk = func(prefix string, v any) string {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if p := walk(strings.TrimPrefix(prefix+"."+k, "."), x[k]); p != "" {
					return p
				}
			}
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return prefix
			}
		}
		return ""
	}
	return walk("", tree)
}
