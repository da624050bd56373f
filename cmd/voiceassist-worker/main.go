// Command voiceassist-worker consumes voice-processing jobs from the Redis
// queue and stores results in PostgreSQL (internal/worker). Run with --help
// for its flags.
package main

import (
	"os"

	"github.com/voiceassist/autoscaling/internal/service"
	"github.com/voiceassist/autoscaling/internal/worker"
)

func main() { os.Exit(service.Main(worker.Command, os.Args[1:], os.Getenv)) }
