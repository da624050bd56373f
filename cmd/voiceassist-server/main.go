// Command voiceassist-server is the VoiceAssist API gateway (internal/server).
// Run it with --help for its flags.
package main

import (
	"os"

	"github.com/voiceassist/autoscaling/internal/server"
	"github.com/voiceassist/autoscaling/internal/service"
)

func main() { os.Exit(service.Main(server.Command, os.Args[1:], os.Getenv)) }
