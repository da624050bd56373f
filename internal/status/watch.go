package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"sigs.k8s.io/yaml"
)

// Write prints one snapshot: "text", "json" (indented) or "yaml".
func Write(w io.Writer, s *Snapshot, format string) error {
	switch format {
	case "text":
		return WriteText(w, s)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	case "yaml":
		b, err := yaml.Marshal(s)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unknown output format %q", format)
}

// clearScreen moves the cursor home and clears the terminal (ANSI), as
// watch(1) redraws.
const clearScreen = "\x1b[H\x1b[2J"

// WatchOptions say how Watch prints.
type WatchOptions struct {
	Interval time.Duration
	Format   string
	// Redraw clears the screen before each text snapshot (a terminal);
	// otherwise snapshots are streamed: text ones separated by a blank line,
	// JSON one object per line, YAML as a stream of documents.
	Redraw bool
	// Errors receives the errors of gatherings after the first (the watch
	// goes on: the next one may succeed).
	Errors io.Writer
}

// Watch gathers and prints a snapshot every o.Interval until ctx ends. An
// error of the first gathering ends it (the connection is wrong); later
// ones are printed and the watch continues.
func Watch(ctx context.Context, gather func(context.Context) (*Snapshot, error), w io.Writer, o WatchOptions) error {
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for n := 0; ; n++ {
		s, err := gather(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil && n == 0:
			return err
		case err != nil:
			if o.Redraw && o.Format == "text" {
				fmt.Fprint(w, clearScreen)
			}
			fmt.Fprintf(o.Errors, "%s: %v (retrying every %s)\n", time.Now().UTC().Format(time.RFC3339), err, o.Interval)
		default:
			if err := writeWatched(w, s, o, n); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func writeWatched(w io.Writer, s *Snapshot, o WatchOptions, n int) error {
	switch o.Format {
	case "json":
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	case "yaml":
		if _, err := io.WriteString(w, "---\n"); err != nil {
			return err
		}
		return Write(w, s, "yaml")
	}
	switch {
	case o.Redraw:
		if _, err := io.WriteString(w, clearScreen); err != nil {
			return err
		}
	case n > 0:
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
	}
	return WriteText(w, s)
}
