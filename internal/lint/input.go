package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
)

// Input is one set of objects linted together: one environment's build, one
// kustomization directory's build, or all the plain YAML files given.
type Input struct {
	Name    string
	Objects []*Object
	// Bases are the kustomize bases this input overlays; the overlay rules
	// compare against them.
	Bases []*Input
}

// Object is one manifest object and where it came from.
type Object struct {
	// Obj is the typed object (client-go, VPA, Prometheus Operator,
	// kube-aggregator types), or *unstructured.Unstructured for kinds the
	// scheme does not know (a KEDA ScaledObject, say).
	Obj       runtime.Object
	GVK       schema.GroupVersionKind
	Namespace string
	Name      string
	// Ref is "Kind namespace/name".
	Ref string
	// File and Line locate the object's document; Line is 0 when unknown.
	File string
	Line int
	// Invalid is the strict decoder's complaint (unknown or duplicate
	// field); InvalidField the field it names. The object was decoded
	// leniently so the other rules still see it.
	Invalid      string
	InvalidField string

	node  *yaml.Node // the object's mapping node, for field lines
	index int
}

func (o *Object) annotations() map[string]string {
	if a, err := meta.Accessor(o.Obj); err == nil {
		return a.GetAnnotations()
	}
	return nil
}

// line returns the line of field (a JSON path) in the object's file, or of
// its nearest existing parent, or of the document.
func (o *Object) line(field string) int {
	if o.node == nil {
		return o.Line
	}
	n := o.node
	best := n.Line
	for _, seg := range splitPath(field) {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					best = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
				best = next.Line
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return best
}

// splitPath splits "spec.hard[limits.cpu].x[2]" into spec, hard, limits.cpu, x, 2.
func splitPath(p string) []string {
	var segs []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			segs = append(segs, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '.':
			flush()
		case '[':
			flush()
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				end = len(p) - i
			}
			segs = append(segs, p[i+1:i+end])
			i += end
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return segs
}

// InputError is a problem with the input itself — unreadable, malformed
// YAML, a kustomization that does not build. It names the file and, where
// known, the line.
type InputError struct {
	File string
	Line int
	Err  error
}

func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

var laxDecoder = serializer.NewCodecFactory(kube.Scheme).UniversalDeserializer()

var fieldInError = regexp.MustCompile(`(?:unknown|duplicate) field "([^"]+)"`)

// decodeMap turns one object, as a generic map, into an Object.
func decodeMap(m map[string]any) (*Object, error) {
	u := &unstructured.Unstructured{Object: m}
	gvk := u.GroupVersionKind()
	if gvk.Kind == "" || u.GetAPIVersion() == "" {
		return nil, errors.New("object has no apiVersion or kind")
	}
	if !kube.Scheme.Recognizes(gvk) {
		return unstructuredObject(u), nil
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return decodeTyped(data, gvk), nil
}

func unstructuredObject(u *unstructured.Unstructured) *Object {
	o := &Object{GVK: u.GroupVersionKind(), Namespace: u.GetNamespace(), Name: u.GetName(), Obj: u}
	o.Ref = o.GVK.Kind + " " + qualified(o.Namespace, o.Name)
	return o
}

// decodeTyped decodes JSON of a kind the scheme knows: strictly, and when
// that fails leniently, keeping the strict error for object-invalid.
func decodeTyped(data []byte, gvk schema.GroupVersionKind) *Object {
	o := &Object{GVK: gvk}
	obj, _, err := kube.DecodeStrict(data)
	if err != nil {
		o.Invalid = err.Error()
		if sm := fieldInError.FindStringSubmatch(o.Invalid); sm != nil {
			o.InvalidField = sm[1]
		}
		obj, _, err = laxDecoder.Decode(data, nil, nil)
	}
	if err != nil || obj == nil {
		// Not even a lenient decode works (a wrong type, say): keep it as
		// unstructured so object-invalid still reports it.
		u := &unstructured.Unstructured{}
		if uerr := u.UnmarshalJSON(data); uerr == nil {
			uo := unstructuredObject(u)
			uo.Invalid, uo.InvalidField = o.Invalid, o.InvalidField
			if uo.Invalid == "" && err != nil {
				uo.Invalid = err.Error()
			}
			return uo
		}
		obj = u
	}
	o.Obj = obj
	if a, aerr := meta.Accessor(obj); aerr == nil {
		o.Namespace, o.Name = a.GetNamespace(), a.GetName()
	}
	o.Ref = gvk.Kind + " " + qualified(o.Namespace, o.Name)
	return o
}

// decodeNode turns one YAML mapping node into an Object, converting typed
// kinds straight to JSON (appendNodeJSON) and the rest through a map.
func decodeNode(n *yaml.Node) (*Object, error) {
	av, k := mapValue(n, "apiVersion"), mapValue(n, "kind")
	if av == nil || k == nil || av.Value == "" || k.Value == "" {
		return nil, errors.New("object has no apiVersion or kind")
	}
	gv, err := schema.ParseGroupVersion(av.Value)
	if err != nil {
		return nil, fmt.Errorf("apiVersion %q: %w", av.Value, err)
	}
	gvk := gv.WithKind(k.Value)
	if kube.Scheme.Recognizes(gvk) {
		var b bytes.Buffer
		if appendNodeJSON(&b, n) == nil {
			return decodeTyped(b.Bytes(), gvk), nil
		}
	}
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return nil, err
	}
	return decodeMap(m)
}

func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

var yamlLine = regexp.MustCompile(`^yaml: (?:unmarshal errors:\s*)?line (\d+): (.*)$`)

// yamlError turns a yaml.v3 error into an InputError with the line.
func yamlError(file string, err error) error {
	msg := strings.TrimSpace(err.Error())
	if sm := yamlLine.FindStringSubmatch(strings.ReplaceAll(msg, "\n", " ")); sm != nil {
		n, _ := strconv.Atoi(sm[1])
		problem := strings.TrimSpace(sm[2])
		if isParserError(problem) {
			// yaml.v3 reports a parser error at the 0-based line of the
			// construct it was parsing; name that construct's line.
			return &InputError{File: file, Line: n + 1, Err: errors.New("malformed YAML in the block or flow collection starting here: " + problem)}
		}
		return &InputError{File: file, Line: n, Err: errors.New("malformed YAML: " + problem)}
	}
	return &InputError{File: file, Err: fmt.Errorf("malformed YAML: %s", strings.TrimPrefix(msg, "yaml: "))}
}

// isParserError tells libyaml's parser errors (as opposed to scanner
// errors) by their messages (yaml.v3 parserc.go).
func isParserError(msg string) bool {
	for _, p := range []string{"did not find expected", "found undefined tag handle", "found duplicate %", "found incompatible YAML document"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// ParseStream reads a YAML (or JSON) stream of objects; a v1 List is
// expanded into its items. Malformed YAML is an *InputError naming file and line.
func ParseStream(file string, data []byte) ([]*Object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Object
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, yamlError(file, err)
		}
		n := &doc
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			n = n.Content[0]
		}
		if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "") {
			continue // an empty document
		}
		objs, err := parseNode(file, n)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

func parseNode(file string, n *yaml.Node) ([]*Object, error) {
	if n.Kind != yaml.MappingNode {
		return nil, &InputError{File: file, Line: n.Line, Err: errors.New("a document must be an object (a YAML mapping)")}
	}
	if k := mapValue(n, "kind"); k != nil && k.Value == "List" {
		if items := mapValue(n, "items"); items != nil && items.Kind == yaml.SequenceNode {
			var out []*Object
			for _, it := range items.Content {
				objs, err := parseNode(file, it)
				if err != nil {
					return nil, err
				}
				out = append(out, objs...)
			}
			return out, nil
		}
	}
	o, err := decodeNode(n)
	if err != nil {
		if strings.HasPrefix(err.Error(), "yaml:") {
			return nil, yamlError(file, err)
		}
		return nil, &InputError{File: file, Line: n.Line, Err: err}
	}
	o.File, o.Line, o.node = file, n.Line, n
	return []*Object{o}, nil
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Embedded builds the named environments of the manifests compiled into
// vactl. Each overlay gets the base as its Bases, so the overlay rules
// compare them.
func Embedded(envs []string) ([]*Input, error) {
	src, err := render.Embedded()
	if err != nil {
		return nil, err
	}
	var base *Input
	var out []*Input
	for _, env := range envs {
		in, err := embeddedEnv(src, env)
		if err != nil {
			return nil, err
		}
		if env == "base" {
			base = in
		}
		out = append(out, in)
	}
	for i, env := range envs {
		if env == "base" {
			continue
		}
		if base == nil {
			if base, err = embeddedEnv(src, "base"); err != nil {
				return nil, err
			}
		}
		out[i].Bases = []*Input{base}
	}
	return out, nil
}

func embeddedEnv(src render.Source, env string) (*Input, error) {
	rel, err := render.EnvDir(env)
	if err != nil {
		return nil, err
	}
	root := path.Join(src.Root, rel)
	// Origins are relative to root; the repository path of root is k8s/<root>.
	display := func(origin string) string { return path.Join("k8s", strings.TrimPrefix(path.Join(root, origin), "/")) }
	return buildKustomization("env "+env, src.FS, root, display)
}

// Paths reads user input: YAML or JSON files, directories of them,
// kustomization directories, and "-" for stdin. Plain files and
// directories form one input, linted together; each kustomization
// directory is an input of its own, with the directories its
// kustomization lists under resources as its bases.
func Paths(paths []string, stdin io.Reader) ([]*Input, error) {
	var out []*Input
	plain := &Input{}
	var plainNames []string
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, &InputError{File: "<stdin>", Err: err}
			}
			objs, err := ParseStream("<stdin>", data)
			if err != nil {
				return nil, err
			}
			if countObjects(objs) == 0 {
				return nil, &InputError{File: "<stdin>", Err: errors.New("no Kubernetes objects on stdin: did the command that feeds vactl print nothing, or fail?")}
			}
			plain.Objects = append(plain.Objects, objs...)
			plainNames = append(plainNames, "<stdin>")
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, &InputError{File: p, Err: errors.Unwrap(err)}
		}
		if st.IsDir() && kustomizationFile(p) != "" {
			in, err := UserKustomization(p)
			if err != nil {
				return nil, err
			}
			if countObjects(in.Objects) == 0 {
				return nil, &InputError{File: p, Err: errors.New("the kustomization builds no Kubernetes objects: list the manifests under resources")}
			}
			out = append(out, in)
			continue
		}
		files := []string{p}
		before := len(plain.Objects)
		if st.IsDir() {
			if files, err = manifestFiles(p); err != nil {
				return nil, err
			}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, &InputError{File: f, Err: errors.Unwrap(err)}
			}
			objs, err := ParseStream(f, data)
			if err != nil {
				return nil, err
			}
			plain.Objects = append(plain.Objects, objs...)
		}
		if countObjects(plain.Objects[before:]) == 0 {
			return nil, &InputError{File: p, Err: noObjects(p, st.IsDir())}
		}
		plainNames = append(plainNames, p)
	}
	if len(plainNames) > 0 {
		plain.Name = strings.Join(plainNames, ", ")
		out = append([]*Input{plain}, out...)
	}
	return out, nil
}

// countObjects counts the Kubernetes objects among objs: kustomize's own
// files (a Kustomization, a Component) are configuration, not objects.
func countObjects(objs []*Object) int {
	n := 0
	for _, o := range objs {
		if o.GVK.Group != "kustomize.config.k8s.io" {
			n++
		}
	}
	return n
}

// noObjects says why path gave no object, and for a directory whose
// subdirectories are kustomizations (k8s/performance/overlays) which to lint.
func noObjects(path string, dir bool) error {
	if !dir {
		if isKustomizationName(filepath.Base(path)) {
			return fmt.Errorf("no Kubernetes objects in the file: it is a kustomization; give its directory, -f %s", filepath.Dir(path))
		}
		return errors.New("no Kubernetes objects in the file")
	}
	return noObjectsInDir(os.DirFS(path), path)
}

// noObjectsInDir is noObjects for the directory root, read through fsys (the
// directory itself; a test passes one that fails). A directory that cannot
// be walked is that error, naming the subdirectory, not "no objects".
func noObjectsInDir(fsys fs.FS, root string) error {
	var kdirs []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != "." && kustomizationFileIn(fsys, p) != "" {
			kdirs = append(kdirs, filepath.Join(root, filepath.FromSlash(p)))
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("cannot read the directory %s: %w", filepath.Join(root, filepath.FromSlash(pe.Path)), pe.Err)
		}
		return fmt.Errorf("cannot read the directory: %w", err)
	}
	if len(kdirs) == 0 {
		return errors.New("no Kubernetes objects in the directory (no .yaml, .yml or .json file holds one)")
	}
	return fmt.Errorf("no Kubernetes objects in the directory, only kustomizations in its subdirectories: lint them with -f %s", strings.Join(kdirs, " -f "))
}

// manifestFiles lists the .yaml, .yml and .json files under dir, sorted.
func manifestFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, &InputError{File: dir, Err: err}
	}
	sort.Strings(files)
	return files, nil
}

var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// kustomizationFileIn is kustomizationFile for dir inside fsys.
func kustomizationFileIn(fsys fs.FS, dir string) string {
	for _, n := range kustomizationNames {
		if st, err := fs.Stat(fsys, path.Join(dir, n)); err == nil && !st.IsDir() {
			return path.Join(dir, n)
		}
	}
	return ""
}

func kustomizationFile(dir string) string {
	for _, n := range kustomizationNames {
		if st, err := os.Stat(filepath.Join(dir, n)); err == nil && !st.IsDir() {
			return filepath.Join(dir, n)
		}
	}
	return ""
}

// UserKustomization builds a kustomization directory on disk; the local
// directories its kustomization lists under resources become its Bases.
func UserKustomization(dir string) (*Input, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, &InputError{File: dir, Err: err}
	}
	display := func(origin string) string { return filepath.Join(dir, origin) }
	in, err := buildKustomization(dir, filesys.MakeFsOnDisk(), abs, display)
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if data, err := os.ReadFile(kustomizationFile(dir)); err == nil {
		_ = sigsyaml.Unmarshal(data, &k)
	}
	for _, r := range k.Resources {
		if strings.Contains(r, "://") || filepath.IsAbs(r) {
			continue
		}
		bd := filepath.Join(dir, r)
		if st, err := os.Stat(bd); err != nil || !st.IsDir() || kustomizationFile(bd) == "" {
			continue
		}
		base, err := UserKustomization(bd)
		if err != nil {
			return nil, err
		}
		in.Bases = append(in.Bases, base)
	}
	return in, nil
}

// buildKustomization runs kustomize with origin annotations switched on in
// the root kustomization (through originFS, without touching the files), so
// every object knows the file it came from; display maps an origin path to
// the file name shown to the user.
func buildKustomization(name string, fsys filesys.FileSystem, root string, display func(string) string) (*Input, error) {
	m, err := render.Build(originFS{FileSystem: fsys, root: root}, root)
	if err != nil {
		return nil, &InputError{File: name, Err: explainBuildError(err)}
	}
	in, err := fromResMap(name, m, fsys, root, display)
	if err != nil {
		return nil, err
	}
	return in, nil
}

// explainBuildError adds what to do to the kustomize errors the known
// pitfalls produce.
func explainBuildError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "cycle detected"):
		return fmt.Errorf("%w\nhint: a base must not contain its overlays; move the base's files into a sibling folder (base/) and point the overlays at it", err)
	case strings.Contains(msg, "[noNs]") && strings.Contains(msg, "patch"):
		return fmt.Errorf("%w\nhint: the patch names no namespace but its target has one; add metadata.namespace to the patch", err)
	}
	return err
}

const originAnnotation = "config.kubernetes.io/origin"

func fromResMap(name string, m resmap.ResMap, fsys filesys.FileSystem, root string, display func(string) string) (*Input, error) {
	in := &Input{Name: name}
	docs := map[string][]*yaml.Node{}
	for _, r := range m.Resources() {
		om, err := r.Map()
		if err != nil {
			return nil, &InputError{File: name, Err: err}
		}
		var originPath string
		if md, ok := om["metadata"].(map[string]any); ok {
			if ann, ok := md["annotations"].(map[string]any); ok {
				if s, ok := ann[originAnnotation].(string); ok {
					var origin struct {
						Path string `json:"path"`
						Repo string `json:"repo"`
					}
					if sigsyaml.Unmarshal([]byte(s), &origin) == nil && origin.Repo == "" {
						originPath = origin.Path
					}
					delete(ann, originAnnotation)
					if len(ann) == 0 {
						delete(md, "annotations")
					}
				}
			}
		}
		o, err := decodeMap(om)
		if err != nil {
			return nil, &InputError{File: name, Err: fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err)}
		}
		o.File = name
		if originPath != "" {
			o.File = display(originPath)
			abs := path.Join(root, originPath)
			if filepath.Separator != '/' {
				abs = filepath.Join(root, originPath)
			}
			if _, seen := docs[abs]; !seen {
				docs[abs] = readDocs(fsys, abs)
			}
			if n := findDoc(docs[abs], o.GVK.Kind, o.Name); n != nil {
				o.node, o.Line = n, n.Line
			}
		}
		in.Objects = append(in.Objects, o)
	}
	return in, nil
}

func readDocs(fsys filesys.FileSystem, file string) []*yaml.Node {
	data, err := fsys.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
			out = append(out, doc.Content[0])
		}
	}
	return out
}

// findDoc finds the document of kind and name; names changed by a prefix or
// suffix still match by containment, and a kind found once matches alone.
func findDoc(docs []*yaml.Node, kind, name string) *yaml.Node {
	var byKind []*yaml.Node
	for _, d := range docs {
		k := mapValue(d, "kind")
		if k == nil || k.Value != kind {
			continue
		}
		byKind = append(byKind, d)
		if n := mapValue(mapValue(d, "metadata"), "name"); n != nil && n.Value != "" && strings.Contains(name, n.Value) {
			if n.Value == name {
				return d
			}
		}
	}
	for _, d := range byKind {
		if n := mapValue(mapValue(d, "metadata"), "name"); n != nil && n.Value != "" && strings.Contains(name, n.Value) {
			return d
		}
	}
	if len(byKind) == 1 {
		return byKind[0]
	}
	return nil
}

// originFS makes kustomize annotate every object with the file it came
// from, by adding buildMetadata: [originAnnotations] to the root
// kustomization as kustomize reads it. Nothing is written.
type originFS struct {
	filesys.FileSystem
	root string
}

func (f originFS) ReadFile(p string) ([]byte, error) {
	data, err := f.FileSystem.ReadFile(p)
	if err != nil || filepath.Dir(p) != filepath.Clean(f.root) || !isKustomizationName(filepath.Base(p)) {
		return data, err
	}
	var k map[string]any
	if sigsyaml.Unmarshal(data, &k) != nil || k == nil {
		return data, nil
	}
	bm, _ := k["buildMetadata"].([]any)
	for _, v := range bm {
		if v == "originAnnotations" {
			return data, nil
		}
	}
	k["buildMetadata"] = append(bm, "originAnnotations")
	out, merr := sigsyaml.Marshal(k)
	if merr != nil {
		return data, nil
	}
	return out, nil
}

func isKustomizationName(n string) bool {
	for _, k := range kustomizationNames {
		if n == k {
			return true
		}
	}
	return false
}
