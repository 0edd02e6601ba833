package tasks

import (
	"fmt"
	"regexp"
	"strings"
)

// UnifiedDiff returns a unified diff (3 lines of context) that turns a into
// b, or "" when they are equal. Managed files are small configuration files,
// so the quadratic longest-common-subsequence table is fine; past 4,000
// lines a side the diff is summarised instead.
func UnifiedDiff(nameA, nameB, a, b string) string {
	if a == b {
		return ""
	}
	la, lb := splitLines(a), splitLines(b)
	if len(la) > 4000 || len(lb) > 4000 {
		return fmt.Sprintf("--- %s\n+++ %s\n(%d lines -> %d lines; too large to show)\n", nameA, nameB, len(la), len(lb))
	}
	ops := diffOps(la, lb)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	const ctx = 3
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(i-ctx, 0)
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run-end > 2*ctx || run == len(ops) {
				end = min(end+ctx, len(ops))
				break
			}
			end = run
		}
		aStart, bStart, aN, bN := ops[start].ai, ops[start].bi, 0, 0
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				aN++
			}
			if o.kind != '-' {
				bN++
			}
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", aStart+1, aN, bStart+1, bN)
		for _, o := range ops[start:end] {
			out.WriteByte(o.kind)
			out.WriteString(o.text)
			out.WriteByte('\n')
		}
		i = end
	}
	return out.String()
}

type diffOp struct {
	kind   byte // ' ', '-', '+'
	text   string
	ai, bi int
}

func diffOps(a, b []string) []diffOp {
	n, m := len(a), len(b)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i], i, j})
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			// removed lines first, as diff(1) shows a change
			ops = append(ops, diffOp{'-', a[i], i, j})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j], i, j})
			j++
		}
	}
	return ops
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// placeholderRE matches what a redacted env() value looks like.
var placeholderRE = regexp.MustCompile(`\(env [A-Za-z_][A-Za-z0-9_]*\)`)

// Hidden stands for a value of the node's copy of a managed file that is
// not shown, because the template has an env() value there.
const Hidden = "(hidden)"

// MaskSecrets prepares a node's copy of a managed file for a diff against
// shown, the file rendered with "(env NAME)" placeholders. Values the
// inventory knows are replaced by redact. A line that differs from every
// line of shown but matches one of its lines with placeholders (any text
// where a placeholder is) holds a value the inventory does not know there:
// an older secret, or the node's own. That text is replaced by "(hidden)",
// so the diff shows that the line changes but never the value. changed
// counts those lines.
func MaskSecrets(current, shown string, redact func(string) string) (masked string, changed int) {
	current = redact(current)
	type pattern struct {
		re    *regexp.Regexp
		parts []string // the literal text around the placeholders
		names []string // the placeholders
	}
	var patterns []pattern
	lines := map[string]bool{}
	for _, l := range splitLines(shown) {
		lines[l] = true
		if !placeholderRE.MatchString(l) {
			continue
		}
		var b strings.Builder
		var p pattern
		b.WriteString("^")
		last := 0
		for _, m := range placeholderRE.FindAllStringIndex(l, -1) {
			p.parts = append(p.parts, l[last:m[0]])
			p.names = append(p.names, l[m[0]:m[1]])
			b.WriteString(regexp.QuoteMeta(l[last:m[0]]))
			b.WriteString("(.*)")
			last = m[1]
		}
		p.parts = append(p.parts, l[last:])
		b.WriteString(regexp.QuoteMeta(l[last:]) + "$")
		if re, err := regexp.Compile(b.String()); err == nil {
			p.re = re
			patterns = append(patterns, p)
		}
	}
	if len(patterns) == 0 {
		return current, 0
	}
	cur := splitLines(current)
	for i, l := range cur {
		if lines[l] {
			continue
		}
		for _, p := range patterns {
			m := p.re.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			var b strings.Builder
			for k, name := range p.names {
				b.WriteString(p.parts[k])
				if m[k+1] == name {
					b.WriteString(name)
				} else {
					b.WriteString(Hidden)
				}
			}
			b.WriteString(p.parts[len(p.parts)-1])
			cur[i] = b.String()
			changed++
			break
		}
	}
	out := strings.Join(cur, "\n")
	if strings.HasSuffix(current, "\n") {
		out += "\n"
	}
	return out, changed
}
