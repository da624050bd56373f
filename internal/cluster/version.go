package cluster

import (
	"runtime/debug"

	"k8s.io/apimachinery/pkg/version"
)

// BuildInfo says which vactl this is, from the build information Go
// records in every binary: the main module's version ("(devel)" for a
// build from a checkout) and the VCS revision it was built from.
type BuildInfo struct {
	Module      string `json:"module"`
	Version     string `json:"version"`
	Revision    string `json:"revision,omitempty"`
	RevisionAt  string `json:"revisionTime,omitempty"`
	Modified    bool   `json:"modified,omitempty"`
	GoVersion   string `json:"goVersion"`
	ClientGoVer string `json:"clientGo,omitempty"`
}

// ReadBuildInfo reads the running binary's BuildInfo.
func ReadBuildInfo() BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return BuildInfo{Version: "unknown"}
	}
	out := BuildInfo{Module: bi.Main.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			out.Revision = s.Value
		case "vcs.time":
			out.RevisionAt = s.Value
		case "vcs.modified":
			out.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		if d.Path == "k8s.io/client-go" {
			out.ClientGoVer = d.Version
		}
	}
	return out
}

// String is the one-line form recorded with every revision.
func (b BuildInfo) String() string {
	s := b.Version
	if b.Revision != "" {
		r := b.Revision
		if len(r) > 12 {
			r = r[:12]
		}
		s += "+" + r
		if b.Modified {
			s += "-dirty"
		}
	}
	return s
}

// ServerVersion asks the API server for its version.
func (c *Client) ServerVersion() (*version.Info, error) {
	v, err := c.Kube.Discovery().ServerVersion()
	if err != nil {
		return nil, c.Explain(err)
	}
	return v, nil
}
