// Command gen rewrites the generated blocks of the markdown files it is
// given (docs/running-locally.md) from the services' flag definitions.
package main

import (
	"fmt"
	"os"

	"github.com/voiceassist/autoscaling/internal/servicedoc"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gen FILE.md...")
		os.Exit(2)
	}
	for _, p := range os.Args[1:] {
		changed, err := servicedoc.UpdateFile(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		if changed {
			fmt.Println("updated", p)
		}
	}
}
