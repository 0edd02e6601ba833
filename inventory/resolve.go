package inventory

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

var healthKinds = []string{HealthHTTP, HealthTCP, HealthLog, HealthCommand}
var hookEvents = []string{BeforeStop, AfterStart, AfterHealthy, OnFailure}

// What each health kind requires and allows.
var healthAttrs = map[string]struct {
	required string
	allowed  []string
}{
	HealthHTTP:    {"url", []string{"url", "status", "insecure_tls"}},
	HealthTCP:     {"port", []string{"port"}},
	HealthLog:     {"pattern", []string{"pattern"}},
	HealthCommand: {"run", []string{"run"}},
}

func (b *builder) healthSpec(blk *hcl.Block) *healthSpec {
	kind := blk.Labels[0]
	spec, ok := healthAttrs[kind]
	if !ok {
		b.errorf(blk.LabelRanges[0].Ptr(), "Unknown health check kind",
			"Health check kind %q is not known%s. Use \"http\" (url, status, insecure_tls), \"tcp\" (port), \"log\" (pattern) or \"command\" (run).",
			kind, didYouMean(kind, healthKinds))
		return nil
	}
	var raw rawHealth
	// Expressions that may name the node are kept and evaluated per node.
	if !b.decode(blk.Body, b.ctx, &raw) {
		return nil
	}
	set := map[string]bool{
		"url": isSet(raw.URL), "status": raw.Status != nil, "insecure_tls": raw.InsecureTLS != nil,
		"port": raw.Port != nil, "pattern": isSet(raw.Pattern), "run": isSet(raw.Run),
	}
	good := true
	if !set[spec.required] {
		b.errorf(blk.DefRange.Ptr(), "Missing "+spec.required,
			"A %q health check needs %s. For example: health %q { %s }", kind, spec.required, kind, healthExample[kind])
		good = false
	}
	for name, isSet := range set {
		if isSet && !contains(spec.allowed, name) {
			b.errorf(attrRange(blk.Body, name), "Argument not valid for this health check",
				"%s does not apply to a %q check, which takes %s. Remove it, or change the kind.", name, kind, joinQuoted(spec.allowed))
			good = false
		}
	}
	if raw.Port != nil && (*raw.Port < 1 || *raw.Port > 65535) {
		b.errorf(attrRange(blk.Body, "port"), "Invalid port", "port %d is outside 1-65535.", *raw.Port)
		good = false
	}
	if raw.Status != nil && (*raw.Status < 100 || *raw.Status > 599) {
		b.errorf(attrRange(blk.Body, "status"), "Invalid status", "status %d is not an HTTP status code (100-599).", *raw.Status)
		good = false
	}
	if !good {
		return nil
	}
	return &healthSpec{kind: kind, raw: raw, block: blk}
}

var healthExample = map[string]string{
	HealthHTTP:    `url = "http://127.0.0.1:9763/services/Version"`,
	HealthTCP:     `port = 8243`,
	HealthLog:     `pattern = "WSO2 Carbon started in"`,
	HealthCommand: `run = "curl -fsk https://127.0.0.1:9443/"`,
}

func (b *builder) hookSpec(blk *hcl.Block) *hookSpec {
	event := blk.Labels[0]
	if !contains(hookEvents, event) {
		b.errorf(blk.LabelRanges[0].Ptr(), "Unknown hook event",
			"Hook event %q is not known%s. Use one of %s.", event, didYouMean(event, hookEvents), joinQuoted(hookEvents))
		return nil
	}
	var raw rawHook
	if !b.decode(blk.Body, b.ctx, &raw) {
		return nil
	}
	local, remote := isSet(raw.Local), isSet(raw.Remote)
	if local == remote {
		b.errorf(blk.DefRange.Ptr(), "Hook needs one command",
			"A hook runs exactly one command: set either local (runs on the controller) or remote (runs on the node), not %s.",
			map[bool]string{true: "both", false: "neither"}[local])
		return nil
	}
	return &hookSpec{event: event, raw: raw, block: blk}
}

func (b *builder) fileSpec(blk *hcl.Block, dir string, prev []*fileSpec) *fileSpec {
	p := blk.Labels[0]
	if !validRelPath(p) {
		b.errorf(blk.LabelRanges[0].Ptr(), "Invalid file path",
			"%q must be a path relative to the product home that stays inside it, such as \"repository/conf/deployment.toml\".", p)
		return nil
	}
	p = path.Clean(p)
	for _, f := range prev {
		if f.path == p {
			b.errorf(blk.LabelRanges[0].Ptr(), "Duplicate file block",
				"%q is already managed by the block at %s. Keep one.", p, f.block.DefRange)
			return nil
		}
	}
	var raw rawFile
	if !b.decode(blk.Body, b.ctx, &raw) {
		return nil
	}
	if (raw.Source == nil) == (raw.Template == nil) {
		b.errorf(blk.DefRange.Ptr(), "File needs one origin",
			"A file block takes either source (copied as is) or template (rendered per node), not %s.",
			map[bool]string{true: "neither", false: "both"}[raw.Source == nil])
		return nil
	}
	f := &fileSpec{path: p, block: blk, noRestart: raw.Restart != nil && !*raw.Restart}
	attr := "source"
	if raw.Source != nil {
		f.source = b.loader.expandPath(dir, *raw.Source)
	} else {
		attr, f.template = "template", true
		f.source = b.loader.expandPath(dir, *raw.Template)
	}
	if st, err := os.Stat(f.source); err != nil || st.IsDir() {
		b.errorf(attrRange(blk.Body, attr), "File not found",
			"The %s %s cannot be read. Paths are relative to the file that holds them (%s).", attr, f.source, dir)
		return nil
	}
	if raw.Mode != nil {
		m, err := strconv.ParseUint(*raw.Mode, 8, 32)
		if err != nil || m > 0o7777 {
			b.errorf(attrRange(blk.Body, "mode"), "Invalid mode",
				"mode %q is not an octal file mode. Write it as a string such as \"0640\".", *raw.Mode)
			return nil
		}
		f.mode = uint32(m)
	}
	if f.template {
		src, _ := os.ReadFile(f.source)
		if _, d := hclsyntax.ParseTemplate(src, f.source, hcl.InitialPos); d.HasErrors() {
			b.diags = append(b.diags, d...)
			return nil
		}
	}
	return f
}

// resolveNode evaluates the profile's health checks, hooks and files for
// one node. Release defaults apply when the profile sets no health check.
func (b *builder) resolveNode(n *Node, spec *profileSpec) {
	real, display := b.nodeContexts(n)
	if spec == nil || len(spec.health) == 0 {
		n.Health = defaultHealth(b.inv, n)
	} else {
		for _, h := range spec.health {
			if c, ok := b.health(h, n, real); ok {
				n.Health = append(n.Health, c)
			}
		}
	}
	if spec == nil {
		return
	}
	for _, h := range spec.hooks {
		where, expr := "local", h.raw.Local
		if !isSet(expr) {
			where, expr = "remote", h.raw.Remote
		}
		cmd, ok1 := b.exprString(expr, real)
		shown, ok2 := b.exprString(expr, display)
		if ok1 && ok2 {
			n.Hooks = append(n.Hooks, Hook{Event: h.event, Where: where, Command: cmd, Display: shown, Dir: spec.dir})
		}
	}
	for _, f := range spec.files {
		out := File{Path: f.path, Source: f.source, Template: f.template, Mode: f.mode, NoRestart: f.noRestart}
		content, err := os.ReadFile(f.source)
		if err != nil {
			b.errorf(f.block.DefRange.Ptr(), "File not readable", "%v.", err)
			continue
		}
		shown := content
		if f.template {
			rendered, ok := b.render(content, f.source, real)
			if !ok {
				continue
			}
			content = rendered
			if shown, ok = b.render(shown, f.source, display); !ok {
				continue
			}
		}
		out.Content, out.Shown = content, shown
		n.Files = append(n.Files, out)
	}
}

func (b *builder) health(h *healthSpec, n *Node, ctx *hcl.EvalContext) (HealthCheck, bool) {
	c := HealthCheck{Kind: h.kind, Status: 200}
	switch h.kind {
	case HealthHTTP:
		u, ok := b.exprString(h.raw.URL, ctx)
		if !ok {
			return c, false
		}
		shifted, err := shiftURLPort(u, n.Offset)
		if err != nil {
			b.errorf(h.raw.URL.Range().Ptr(), "Invalid health URL", "%s. Write a full URL such as \"https://127.0.0.1:9443/...\".", capitalize(err.Error()))
			return c, false
		}
		c.URL = shifted
		if h.raw.Status != nil {
			c.Status = *h.raw.Status
		}
		c.InsecureTLS = h.raw.InsecureTLS != nil && *h.raw.InsecureTLS
	case HealthTCP:
		c.Status, c.Port = 0, *h.raw.Port+n.Offset
		if c.Port > 65535 {
			b.errorf(attrRange(h.block.Body, "port"), "Invalid port",
				"port %d plus the offset %d of node %q is %d, outside 1-65535. Write the port for offset 0; drover adds each node's offset.", *h.raw.Port, n.Offset, n.Name, c.Port)
			return c, false
		}
	case HealthLog:
		c.Status = 0
		p, ok := b.exprString(h.raw.Pattern, ctx)
		if !ok {
			return c, false
		}
		c.Pattern = p
	case HealthCommand:
		c.Status = 0
		r, ok := b.exprString(h.raw.Run, ctx)
		if !ok {
			return c, false
		}
		c.Run = r
	}
	return c, true
}

// shiftURLPort adds the node's port offset to an explicit port in u: health
// URLs are written for offset 0, as in WSO2's documentation.
func shiftURLPort(u string, offset int) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Host == "" || (parsed.Scheme != "http" && parsed.Scheme != "https") {
		return "", fmt.Errorf("%q is not an http or https URL", u)
	}
	if p := parsed.Port(); p != "" && offset != 0 {
		port, err := strconv.Atoi(p)
		if err != nil || port+offset > 65535 {
			return "", fmt.Errorf("port %s of %q plus offset %d is not a valid port", p, u, offset)
		}
		parsed.Host = net.JoinHostPort(parsed.Hostname(), strconv.Itoa(port+offset))
	}
	return parsed.String(), nil
}

// render evaluates a managed file template for one node.
func (b *builder) render(src []byte, name string, ctx *hcl.EvalContext) ([]byte, bool) {
	expr, d := hclsyntax.ParseTemplate(src, name, hcl.InitialPos)
	if d.HasErrors() {
		b.diags = append(b.diags, d...)
		return nil, false
	}
	s, ok := b.exprString(expr, ctx)
	return []byte(s), ok
}

// defaultHealth returns the release's checks: the startup log line, then
// /services/Version, plus the gateway startup check on gateways whose pack
// ships it (4.1 and later; the universal gateway and all-in-one packs).
func defaultHealth(inv *Inventory, n *Node) []HealthCheck {
	checks := []HealthCheck{
		{Kind: HealthLog, Pattern: "WSO2 Carbon started in", Default: true},
		{Kind: HealthHTTP, URL: fmt.Sprintf("http://127.0.0.1:%d/services/Version", 9763+n.Offset), Status: 200, Default: true},
	}
	if inv.GatewayHealth(n) {
		checks = append(checks, HealthCheck{
			Kind: HealthHTTP, Status: 200, InsecureTLS: true, Default: true,
			URL: fmt.Sprintf("https://127.0.0.1:%d/api/am/gateway/v2/server-startup-healthcheck", 9443+n.Offset),
		})
	}
	return checks
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
