package inventory

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drover-sh/drover/transport"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Defaults of the rollout block.
const (
	DefaultHealthTimeout  = 10 * time.Minute
	DefaultMinHealthyTime = 10 * time.Second
	DefaultStopTimeout    = 2 * time.Minute
)

// resolveSSH checks raw ssh settings from the body (a ssh block or a node)
// and lays them over base.
func (b *builder) resolveSSH(base SSH, raw rawSSH, body hcl.Body, dir string) SSH {
	s := base
	if raw.User != nil {
		s.User = *raw.User
	}
	if raw.Port != nil {
		if *raw.Port < 1 || *raw.Port > 65535 {
			b.errorf(attrRange(body, "port"), "Invalid port", "port %d is outside 1-65535. Use the node's SSH port, usually 22.", *raw.Port)
		}
		s.Port = *raw.Port
	}
	if raw.IdentityFiles != nil {
		s.IdentityFiles = nil
		for _, f := range raw.IdentityFiles {
			s.IdentityFiles = append(s.IdentityFiles, b.loader.expandPath(dir, f))
		}
	}
	if raw.KnownHosts != nil {
		s.KnownHosts = b.loader.expandPath(dir, *raw.KnownHosts)
	}
	if raw.HostKeyPolicy != nil {
		switch *raw.HostKeyPolicy {
		case transport.PolicyStrict, transport.PolicyAcceptNew:
			s.HostKeyPolicy = *raw.HostKeyPolicy
		default:
			b.errorf(attrRange(body, "host_key_policy"), "Unknown host_key_policy",
				"host_key_policy %q is not known%s. Use \"strict\" (unknown hosts are refused) or \"accept-new\" (unknown hosts are recorded, changed keys are refused).",
				*raw.HostKeyPolicy, didYouMean(*raw.HostKeyPolicy, []string{transport.PolicyStrict, transport.PolicyAcceptNew}))
		}
	}
	if raw.Jump != nil {
		for i, j := range raw.Jump {
			if _, _, _, err := transport.ParseJump(j); err != nil {
				rng := attrRange(body, "jump")
				if el := tupleElems(body, "jump"); i < len(el) {
					r := el[i].Range()
					rng = &r
				}
				b.errorf(rng, "Invalid jump host", "%s. Write each hop as \"user@host:port\", \"host:port\" or \"host\" (or as an ssh:// URL, \"ssh://user@host:port\").", capitalize(err.Error()))
			}
		}
		s.Jump = slices.Clone(raw.Jump)
	}
	if raw.Become != nil {
		switch *raw.Become {
		case "", "sudo":
			s.Become = *raw.Become
		default:
			b.errorf(attrRange(body, "become"), "Unknown become method",
				"become %q is not known. Use \"\" to run commands as the login user or \"sudo\".", *raw.Become)
		}
	}
	if raw.ConnectTimeout != nil {
		if d, ok := b.duration(*raw.ConnectTimeout, attrRange(body, "connect_timeout"), "connect_timeout"); ok {
			s.ConnectTimeout = d
		}
	}
	return s
}

func (b *builder) duration(s string, rng *hcl.Range, name string) (time.Duration, bool) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		b.errorf(rng, "Invalid duration",
			"%s = %q is not a positive duration. Write a number with a unit, such as \"30s\", \"2m\" or \"1h30m\".", name, s)
		return 0, false
	}
	return d, true
}

var sha256Re = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func (b *builder) update() {
	u := &b.inv.Update
	u.Strategy = SideBySide
	blk := b.updateBlock
	var raw rawUpdate
	if blk != nil && !b.decode(blk.Body, b.ctx, &raw) {
		return
	}
	if raw.Strategy != nil {
		switch *raw.Strategy {
		case SideBySide, InPlace:
			u.Strategy = *raw.Strategy
		default:
			b.errorf(attrRange(blk.Body, "strategy"), "Unknown update strategy",
				"strategy %q is not known%s. Use \"side-by-side\" (stage the updated pack beside the running release; the default) or \"in-place\" (run the update tool on each node).",
				*raw.Strategy, didYouMean(*raw.Strategy, []string{SideBySide, InPlace}))
		}
	}
	if blk != nil {
		u.Range = blk.DefRange.Ptr()
	}
	// A missing pack is not an error here: only the commands that roll an
	// update need one, and they say so (the pack's existence too).
	if raw.Pack != nil && *raw.Pack != "" {
		u.Pack = b.loader.expandPath(b.dirOf(blk), *raw.Pack)
		u.PackRange = attrRange(blk.Body, "pack")
	}
	if raw.SHA256 != nil && *raw.SHA256 != "" {
		if sum, ok := b.sha256(*raw.SHA256, attrRange(blk.Body, "sha256")); ok {
			u.SHA256 = sum
		}
	}
	if raw.ResetLocalData != nil && *raw.ResetLocalData {
		u.ResetLocalData = true
		local := []string{"solr/data", "repository/database", "repository/data"}
		b.inv.Persist = slices.DeleteFunc(b.inv.Persist, func(p string) bool { return slices.Contains(local, p) })
		b.inv.OptionalPersist = slices.DeleteFunc(b.inv.OptionalPersist, func(p string) bool { return slices.Contains(local, p) })
	}
	if raw.Level != nil {
		if *raw.Level < 0 {
			b.errorf(attrRange(blk.Body, "level"), "Invalid update level", "level %d is negative. Give the target update level, such as 12.", *raw.Level)
		}
		u.Level = *raw.Level
	}
}

// dirOf returns the folder of the file a block was written in.
func (b *builder) dirOf(blk *hcl.Block) string {
	for _, s := range b.srcs {
		if blk != nil && s.name == blk.DefRange.Filename {
			return s.dir
		}
	}
	return b.srcs[0].dir
}

func (b *builder) rollout() {
	r := &b.inv.Rollout
	*r = Rollout{
		Order:          slices.Clone(b.inv.Defaults.Profiles),
		MaxUnavailable: Amount{N: 1},
		AutoRollback:   true,
		HealthTimeout:  DefaultHealthTimeout,
		MinHealthyTime: DefaultMinHealthyTime,
		StopTimeout:    DefaultStopTimeout,
	}
	blk := b.rolloutBlock
	if blk == nil {
		return
	}
	var raw rawRollout
	if !b.decode(blk.Body, b.ctx, &raw) {
		return
	}
	if raw.Order != nil {
		elems := tupleElems(blk.Body, "order")
		r.Order = nil
		for i, p := range raw.Order {
			rng := attrRange(blk.Body, "order")
			if i < len(elems) {
				er := elems[i].Range()
				rng = &er
			}
			switch {
			case !b.inv.Defaults.ValidProfile(p):
				b.errorf(rng, "Unknown profile in order", "%s", b.unknownProfileDetail(p))
			case slices.Contains(r.Order, p):
				b.errorf(rng, "Duplicate profile in order", "%q appears twice in rollout.order; each profile is one wave. Remove the second entry.", p)
			default:
				r.Order = append(r.Order, p)
			}
		}
	}
	if isSet(raw.MaxUnavailable) {
		if a, ok := b.amount(raw.MaxUnavailable, "max_unavailable"); ok {
			r.MaxUnavailable = a
		}
	}
	if raw.FailureBudget != nil {
		if *raw.FailureBudget < 0 {
			b.errorf(attrRange(blk.Body, "failure_budget"), "Invalid failure_budget",
				"failure_budget %d is negative. Give how many nodes may fail (and be rolled back) before the run halts; 0 halts at the first failure.", *raw.FailureBudget)
		}
		r.FailureBudget = *raw.FailureBudget
	}
	if raw.AutoRollback != nil {
		r.AutoRollback = *raw.AutoRollback
	}
	for _, d := range []struct {
		name string
		raw  *string
		dst  *time.Duration
	}{
		{"health_timeout", raw.HealthTimeout, &r.HealthTimeout},
		{"min_healthy_time", raw.MinHealthyTime, &r.MinHealthyTime},
		{"stop_timeout", raw.StopTimeout, &r.StopTimeout},
	} {
		if d.raw == nil {
			continue
		}
		if d.name == "min_healthy_time" {
			// "0s" is a legitimate choice: healthy once is enough (like
			// Kubernetes' minReadySeconds of 0).
			if v, err := time.ParseDuration(*d.raw); err == nil && v == 0 {
				*d.dst = 0
				continue
			}
		}
		if v, ok := b.duration(*d.raw, attrRange(blk.Body, d.name), d.name); ok {
			*d.dst = v
		}
	}
	if r.MinHealthyTime >= r.HealthTimeout {
		attr := "min_healthy_time"
		if raw.MinHealthyTime == nil {
			attr = "health_timeout"
		}
		b.errorf(attrRange(blk.Body, attr), "Health window too short",
			"min_healthy_time (%s) must be shorter than health_timeout (%s): a node has to stay healthy that long within the timeout.", r.MinHealthyTime, r.HealthTimeout)
	}
}

var percentRe = regexp.MustCompile(`^([0-9]+)%$`)

// amount reads a count given as a positive number or a percentage.
func (b *builder) amount(expr hcl.Expression, name string) (Amount, bool) {
	val, d := expr.Value(b.ctx)
	rng := expr.Range()
	const fix = "Give a positive number of nodes such as 1, or a percentage of the profile's nodes such as \"25%\" (rounded down, at least 1)."
	if d.HasErrors() {
		b.diags = append(b.diags, d...)
		return Amount{}, false
	}
	switch {
	case val.IsNull() || !val.IsKnown():
		b.errorf(&rng, "Invalid "+name, "%s must be set to a value. %s", name, fix)
	case val.Type() == cty.Number:
		f := val.AsBigFloat()
		n, acc := f.Int64()
		if !f.IsInt() || acc != 0 || n < 1 || n > 1<<20 {
			b.errorf(&rng, "Invalid "+name, "%s must be a whole number of at least 1. %s", name, fix)
			return Amount{}, false
		}
		return Amount{N: int(n)}, true
	case val.Type() == cty.String:
		s := strings.TrimSpace(val.AsString())
		if m := percentRe.FindStringSubmatch(s); m != nil {
			n, _ := strconv.Atoi(m[1])
			if n >= 1 && n <= 100 {
				return Amount{N: n, Percent: true}, true
			}
		}
		if n, err := strconv.Atoi(s); err == nil && n >= 1 {
			return Amount{N: n}, true
		}
		b.errorf(&rng, "Invalid "+name, "%q is neither a positive number nor a percentage from 1%% to 100%%. %s", s, fix)
	default:
		b.errorf(&rng, "Invalid "+name, "%s must be a number or a percentage string. %s", name, fix)
	}
	return Amount{}, false
}

func (b *builder) unknownProfileDetail(p string) string {
	d := b.inv.Defaults
	return fmt.Sprintf("%q is not a profile of API Manager %s%s. Valid profiles: %s.",
		p, b.inv.Cluster.Version, didYouMean(p, d.Profiles), strings.Join(d.Profiles, ", "))
}

// sha256 checks a pack checksum and returns it in lower case.
func (b *builder) sha256(s string, rng *hcl.Range) (string, bool) {
	sum := strings.TrimPrefix(s, "sha256:")
	if !sha256Re.MatchString(sum) {
		b.errorf(rng, "Invalid sha256", "sha256 must be 64 hexadecimal digits, as printed by `sha256sum PACK`.")
		return "", false
	}
	raw := make([]byte, 32)
	hex.Decode(raw, []byte(strings.ToLower(sum)))
	return hex.EncodeToString(raw), true
}
