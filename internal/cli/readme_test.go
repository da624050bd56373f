package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/voiceassist/autoscaling/internal/lint"
)

// The README's figures and transcripts are checked here, so that they are
// never typed and left to rot: a rule added, a finding accepted or a message
// reworded fails this test until the README says so.

const readme = "../../README.md"

// TestREADMERuleCount: every "N rules" in the README is the registry's size.
func TestREADMERuleCount(t *testing.T) {
	data, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	matches := regexp.MustCompile(`\b(\d+) rules\b`).FindAllSubmatch(data, -1)
	if len(matches) == 0 {
		t.Fatal(`README.md names no rule count ("N rules"); if it was removed on purpose, remove this test`)
	}
	for _, m := range matches {
		if n, _ := strconv.Atoi(string(m[1])); n != len(lint.Rules()) {
			t.Errorf("README.md says %q; vactl lint has %d rules", m[0], len(lint.Rules()))
		}
	}
}

// TestREADMETranscripts runs every "$ vactl …" line of the README's code
// blocks from the repository root and compares what vactl prints (stdout,
// then stderr as cmd/vactl prints it) with the lines that follow it.
// "| tail -N" and "$ echo $?" are understood; "# …" is a comment.
func TestREADMETranscripts(t *testing.T) {
	data, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	steps := transcripts(string(data))
	if len(steps) == 0 {
		t.Fatal("README.md has no $ vactl transcript")
	}
	t.Chdir(filepath.Join("..", ".."))
	lastCode := -1
	for _, s := range steps {
		var got string
		if s.cmd == "echo $?" {
			if lastCode < 0 {
				t.Errorf("README.md:%d: echo $? without a command before it", s.line)
				continue
			}
			got = strconv.Itoa(lastCode)
		} else {
			got, lastCode = runLine(s.cmd)
		}
		if want := strings.Join(s.want, "\n"); strings.TrimRight(got, "\n") != want {
			t.Errorf("README.md:%d: $ %s\n--- README says\n%s\n--- vactl prints\n%s", s.line, s.cmd, want, got)
		}
	}
}

type step struct {
	line int
	cmd  string
	want []string
}

// transcripts collects the "$ " lines of fenced blocks with the output
// lines under each.
func transcripts(md string) []step {
	var out []step
	inBlock, cur := false, -1
	for i, l := range strings.Split(md, "\n") {
		switch {
		case strings.HasPrefix(l, "```"):
			inBlock, cur = !inBlock, -1
		case inBlock && strings.HasPrefix(l, "$ "):
			cmd := strings.TrimSpace(l[2:])
			if j := strings.Index(cmd, " #"); j >= 0 {
				cmd = strings.TrimSpace(cmd[:j])
			}
			out = append(out, step{line: i + 1, cmd: cmd})
			cur = len(out) - 1
		case inBlock && cur >= 0:
			out[cur].want = append(out[cur].want, l)
		}
	}
	// Keep the vactl commands and the "echo $?" right after one; a step's
	// output ends at the next step or the end of its block.
	var steps []step
	for i, s := range out {
		for len(s.want) > 0 && s.want[len(s.want)-1] == "" {
			s.want = s.want[:len(s.want)-1]
		}
		isVactl := func(c string) bool { return c == "vactl" || strings.HasPrefix(c, "vactl ") }
		if isVactl(s.cmd) || s.cmd == "echo $?" && i > 0 && isVactl(out[i-1].cmd) {
			steps = append(steps, s)
		}
	}
	return steps
}

// runLine runs "vactl ARGS [| tail -N]" in-process, as cmd/vactl would.
func runLine(line string) (string, int) {
	tail := 0
	if cmd, n, ok := strings.Cut(line, "| tail -"); ok {
		line = strings.TrimSpace(cmd)
		tail, _ = strconv.Atoi(strings.TrimSpace(n))
	}
	args := strings.Fields(line)[1:]
	var out, errb bytes.Buffer
	cmd := NewCommand(IOStreams{In: strings.NewReader(""), Out: &out, Err: &errb})
	cmd.SetArgs(args)
	err := cmd.Execute()
	var ee *ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(&errb, "vactl:", err)
	}
	text := out.String()
	if tail > 0 {
		lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
		text = strings.Join(lines[max(0, len(lines)-tail):], "\n") + "\n"
	}
	return text + errb.String(), ExitCode(err)
}
