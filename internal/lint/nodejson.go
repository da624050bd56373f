package lint

import (
	"bytes"
	"errors"
	"regexp"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// errSlowPath asks the caller to convert a node the general way
// (yaml.v3 Decode and encoding/json), for YAML this converter leaves alone:
// aliases, merge keys, custom tags, non-JSON numbers.
var errSlowPath = errors.New("needs the general conversion")

var (
	jsonInt   = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
	jsonFloat = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)
)

// appendNodeJSON writes a YAML node as JSON: the fast path that turns
// 10,000 parsed documents into what the API decoders read without
// building a map per object.
func appendNodeJSON(b *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return errSlowPath
		}
		return appendNodeJSON(b, n.Content[0])
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				return errSlowPath
			}
			if i > 0 {
				b.WriteByte(',')
			}
			appendJSONString(b, k.Value)
			b.WriteByte(':')
			if err := appendNodeJSON(b, n.Content[i+1]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := appendNodeJSON(b, c); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str", "!!timestamp", "!!binary":
			appendJSONString(b, n.Value)
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			switch n.Value {
			case "true", "True", "TRUE":
				b.WriteString("true")
			case "false", "False", "FALSE":
				b.WriteString("false")
			default:
				return errSlowPath
			}
		case "!!int":
			if !jsonInt.MatchString(n.Value) {
				return errSlowPath
			}
			b.WriteString(n.Value)
		case "!!float":
			if !jsonFloat.MatchString(n.Value) {
				return errSlowPath
			}
			b.WriteString(n.Value)
		default:
			return errSlowPath
		}
	default:
		return errSlowPath
	}
	return nil
}

const hexDigits = "0123456789abcdef"

func appendJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
			i++
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}
