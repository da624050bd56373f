package servicedoc

import (
	"os"
	"strings"
	"testing"
)

const doc = "../../docs/running-locally.md"

// The reference in docs/running-locally.md is what the binaries parse.
func TestRunningLocallyUpToDate(t *testing.T) {
	old, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Update(old)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(old) {
		t.Fatalf("%s is stale: run `make docs` (go generate ./internal/servicedoc) and commit the result", doc)
	}
	for _, c := range Commands {
		if !strings.Contains(string(old), beginMark+c.Name+" -->") {
			t.Errorf("%s has no generated block for %s", doc, c.Name)
		}
	}
}

func TestUpdateErrors(t *testing.T) {
	for in, want := range map[string]string{
		"no blocks":                                       "no <!-- BEGIN",
		beginMark + "nosuch -->\n" + endMark:              `no generated block "nosuch"`,
		beginMark + "common -->\nnever ends\n":            "has no <!-- END",
		"x\n" + beginMark + "common -->\nold\n" + endMark: "",
	} {
		_, err := Update([]byte(in))
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("Update(%q) = %v, want %q", in, err, want)
		}
	}
}
