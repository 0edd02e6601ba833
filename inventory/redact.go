package inventory

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// SecretEnv are the controller's environment variables that hold secrets
// drover passes on without an env() in the inventory: the sudo password
// and the update tool's credentials. Their values are redacted like env()
// values.
var SecretEnv = []string{"DROVER_SUDO_PASSWORD", "UPDATE_TOOL_USERNAME", "UPDATE_TOOL_PASSWORD"}

// secrets remembers the values env() resolved while an inventory was built,
// by variable name. It is never serialized: only Redact and the digest use
// it.
type secrets struct {
	values   map[string]string
	replacer *strings.Replacer
	// words are short alphanumeric values (shorter than minAnywhere),
	// replaced only where they stand alone: "eu" in "lb.eu:443" but not in
	// "queue".
	words map[string]string
}

// minAnywhere is the length from which a value is replaced wherever it
// occurs. Shorter alphanumeric values are replaced as whole words only, so
// that a region or a port read with env() does not garble every line.
const minAnywhere = 4

func (s *secrets) add(name, value string) {
	if s.values == nil {
		s.values = map[string]string{}
	}
	s.values[name] = value
}

// seal builds the replacer once every value is known: longest value first,
// so a value that contains another is replaced whole. Each value is also
// replaced in its JSON-escaped form, so JSON text can be redacted too.
func (s *secrets) seal() {
	type pair struct{ old, name string }
	var pairs []pair
	for name, v := range s.values {
		if v == "" {
			continue
		}
		if len(v) < minAnywhere && isWord(v) {
			if s.words == nil {
				s.words = map[string]string{}
			}
			s.words[v] = Placeholder(name)
			continue
		}
		pairs = append(pairs, pair{v, name})
		if b, err := json.Marshal(v); err == nil {
			if esc := string(b[1 : len(b)-1]); esc != v {
				pairs = append(pairs, pair{esc, name})
			}
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if len(pairs[i].old) != len(pairs[j].old) {
			return len(pairs[i].old) > len(pairs[j].old)
		}
		return pairs[i].old < pairs[j].old
	})
	var args []string
	for _, p := range pairs {
		args = append(args, p.old, Placeholder(p.name))
	}
	if len(args) > 0 {
		s.replacer = strings.NewReplacer(args...)
	}
}

// digest hashes the resolved values (never shown): a plan made with other
// values is stale even when no file that uses them is managed.
func (s *secrets) digest() string {
	names := make([]string, 0, len(s.values))
	for n := range s.values {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00%s\x00", n, len(s.values[n]), s.values[n])
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// Placeholder is what output shows instead of the value of the environment
// variable name: "(env NAME)".
func Placeholder(name string) string { return "(env " + name + ")" }

// Redact replaces every value the inventory's env() calls resolved, and the
// values of SecretEnv, with "(env NAME)" in s. Every text drover shows or
// stores (plans, events, errors, run records, journals) goes through it.
// A nil inventory redacts nothing.
func (inv *Inventory) Redact(s string) string {
	if inv == nil {
		return s
	}
	if r := inv.secrets.replacer; r != nil {
		s = r.Replace(s)
	}
	if len(inv.secrets.words) > 0 {
		s = replaceWords(s, inv.secrets.words)
	}
	return s
}

// HasSecrets reports whether the inventory resolved any non-empty env()
// value or secret variable.
func (inv *Inventory) HasSecrets() bool {
	return inv != nil && (inv.secrets.replacer != nil || len(inv.secrets.words) > 0)
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
}

// replaceWords replaces every maximal run of word characters of s found in
// words.
func replaceWords(s string, words map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if !isWordByte(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		if r, ok := words[s[i:j]]; ok {
			b.WriteString(r)
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

// getenv resolves an env() call for the build and remembers the value.
func (b *builder) getenv(name string) string {
	v := b.loader.getenv(name)
	b.inv.secrets.add(name, v)
	return v
}

// RedactError returns err with its text redacted. errors.Is and errors.As
// still reach the original error (and its exit code or refusal), but its
// text, which may carry a command's output, is shown only redacted.
func (inv *Inventory) RedactError(err error) error {
	if err == nil || !inv.HasSecrets() {
		return err
	}
	msg := inv.Redact(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
