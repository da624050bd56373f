// Command queue-exporter serves the VoiceAssist queue metrics that the worker
// HPA scales on (internal/exporter). Run with --help for its flags.
package main

import (
	"os"

	"github.com/voiceassist/autoscaling/internal/exporter"
	"github.com/voiceassist/autoscaling/internal/service"
)

func main() { os.Exit(service.Main(exporter.Command, os.Args[1:], os.Getenv)) }
