// Package envflag declares command-line flags whose defaults come from
// environment variables, as the services document them: the flag wins over
// the variable, the variable over the built-in default, and a malformed
// variable is an error naming it — never silently the default.
package envflag

import (
	"flag"
	"fmt"
	"strconv"
	"time"
)

// Set declares flags on FS, reading variables through Getenv (os.Getenv, or
// a map in tests). Err holds the first malformed variable.
type Set struct {
	FS     *flag.FlagSet
	Getenv func(string) string
	Err    error
}

func usage(env, usage string) string { return usage + " [$" + env + "]" }

// String declares a string flag defaulting to $env, else def.
func (s *Set) String(p *string, name, env, def, help string) {
	if v := s.Getenv(env); v != "" {
		def = v
	}
	s.FS.StringVar(p, name, def, usage(env, help))
}

// Int declares an int flag defaulting to $env, else def.
func (s *Set) Int(p *int, name, env string, def int, help string) {
	if v := s.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil && s.Err == nil {
			s.Err = fmt.Errorf("$%s=%q: not an integer", env, v)
		}
		def = n
	}
	s.FS.IntVar(p, name, def, usage(env, help))
}

// Duration declares a duration flag defaulting to $env, else def.
func (s *Set) Duration(p *time.Duration, name, env string, def time.Duration, help string) {
	if v := s.Getenv(env); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil && s.Err == nil {
			s.Err = fmt.Errorf("$%s=%q: not a duration (e.g. 5s, 1m30s)", env, v)
		}
		def = d
	}
	s.FS.DurationVar(p, name, def, usage(env, help))
}
