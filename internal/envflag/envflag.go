// Package envflag declares command-line flags whose defaults come from
// environment variables, as the services document them: the flag wins over
// the variable, the variable over the built-in default, and a malformed
// variable is an error naming it — never silently the default.
//
// Every declaration is also recorded (Set.Vars), so the services' reference
// documentation is generated from the same definitions the binaries parse.
package envflag

import (
	"encoding"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Set declares flags on FS, reading variables through Getenv (os.Getenv, or
// a map in tests). Err holds the first malformed variable.
type Set struct {
	FS     *flag.FlagSet
	Getenv func(string) string
	Err    error
	// Vars lists every declaration in order, with its built-in default.
	Vars []Var
}

// Var is one declared setting.
type Var struct {
	Flag    string // flag name without dashes; "" for a variable without a flag
	Env     string
	Default string // the built-in default, as --help prints it; "" for none
	Help    string
}

func usage(env, usage string) string { return usage + " [$" + env + "]" }

func (s *Set) record(name, env, def, help string) {
	s.Vars = append(s.Vars, Var{Flag: name, Env: env, Default: def, Help: help})
}

func (s *Set) fail(env, v, what string) {
	if s.Err == nil {
		s.Err = fmt.Errorf("$%s=%q: %s", env, v, what)
	}
}

// String declares a string flag defaulting to $env, else def.
func (s *Set) String(p *string, name, env, def, help string) {
	s.record(name, env, def, help)
	if v := s.Getenv(env); v != "" {
		def = v
	}
	s.FS.StringVar(p, name, def, usage(env, help))
}

// EnvOnly reads a setting that deliberately has no flag (a password: flags
// show up in ps and in the pod spec).
func (s *Set) EnvOnly(p *string, env, help string) {
	s.record("", env, "", help)
	*p = s.Getenv(env)
}

// Int declares an int flag defaulting to $env, else def.
func (s *Set) Int(p *int, name, env string, def int, help string) {
	s.record(name, env, strconv.Itoa(def), help)
	if v := s.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.fail(env, v, "not an integer")
		}
		def = n
	}
	s.FS.IntVar(p, name, def, usage(env, help))
}

// Bool declares a boolean flag defaulting to $env (true/false, 1/0, as
// strconv.ParseBool reads them), else def.
func (s *Set) Bool(p *bool, name, env string, def bool, help string) {
	s.record(name, env, strconv.FormatBool(def), help)
	if v := s.Getenv(env); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.fail(env, v, "not a boolean (true or false)")
		}
		def = b
	}
	s.FS.BoolVar(p, name, def, usage(env, help))
}

// Duration declares a duration flag defaulting to $env, else def.
func (s *Set) Duration(p *time.Duration, name, env string, def time.Duration, help string) {
	s.record(name, env, def.String(), help)
	if v := s.Getenv(env); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.fail(env, v, "not a duration (e.g. 5s, 1m30s)")
		}
		def = d
	}
	s.FS.DurationVar(p, name, def, usage(env, help))
}

// Text declares a flag of a type that parses itself (slog.Level, say). p
// must already hold the built-in default.
func (s *Set) Text(p interface {
	encoding.TextMarshaler
	encoding.TextUnmarshaler
}, name, env, help string) {
	def, _ := p.MarshalText()
	s.record(name, env, strings.ToLower(string(def)), help)
	if v := s.Getenv(env); v != "" {
		if err := p.UnmarshalText([]byte(v)); err != nil {
			s.fail(env, v, err.Error())
		}
	}
	s.FS.TextVar(p, name, p, usage(env, help))
}

// Bytes declares a byte-size flag: a plain count or one with a KiB/MiB/GiB
// suffix (K/M/G and KB/MB/GB mean the same binary units).
func (s *Set) Bytes(p *int64, name, env string, def int64, help string) {
	s.record(name, env, FormatBytes(def), help)
	*p = def
	if v := s.Getenv(env); v != "" {
		n, err := ParseBytes(v)
		if err != nil {
			s.fail(env, v, err.Error())
		} else {
			*p = n
		}
	}
	s.FS.Var((*bytesValue)(p), name, usage(env, help+"; bytes or with a KiB/MiB/GiB suffix"))
}

type bytesValue int64

func (b *bytesValue) String() string { return FormatBytes(int64(*b)) }
func (b *bytesValue) Set(v string) error {
	n, err := ParseBytes(v)
	if err != nil {
		return err
	}
	*b = bytesValue(n)
	return nil
}

// ParseBytes accepts a plain byte count or one with a KiB/MiB/GiB (or K/M/G,
// KB/MB/GB meaning the same binary units) suffix.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	upper := strings.ToUpper(t)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(upper, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a byte size: %q", s)
	}
	if n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("byte size out of range: %q", s)
	}
	return n * mult, nil
}

// FormatBytes prints n in the largest binary unit that divides it exactly.
func FormatBytes(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
