package e2e

import (
	"strings"
	"testing"
)

func TestFactsReportsAnUnreachableNodeAndTheOthersAnswer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.ssh.Kill(f.hosts["tm-2"].Index())

	r := f.drover("facts", "--json")
	if r.code != 1 {
		t.Errorf("facts with tm-2's sshd dead exited %d, want 1", r.code)
	}
	facts := parseStatus(t, r.stdout)
	if len(facts) != len(f.lab.Nodes) {
		t.Fatalf("facts --json has %d node(s), want %d", len(facts), len(f.lab.Nodes))
	}
	for _, n := range f.lab.Nodes {
		s := facts[n.Name]
		if n.Name == "tm-2" {
			if s.Reachable || s.Error == "" {
				t.Errorf("tm-2: reachable %v, error %q; want unreachable with the reason", s.Reachable, s.Error)
			}
			continue
		}
		if !s.Reachable || s.Error != "" || s.Version != version || s.UpdateLevel != fromLevel || !s.Running || !s.Healthy {
			t.Errorf("%s: %+v; want reachable, %s level %d, running and healthy", n.Name, s, version, fromLevel)
		}
	}

	plain := f.drover("facts")
	if plain.code != 1 {
		t.Errorf("facts exited %d, want 1", plain.code)
	}
	if !strings.Contains(plain.stderr, "tm-2: ") {
		t.Errorf("facts does not say on stderr why tm-2 could not be probed:\n%s", plain.stderr)
	}
	for _, line := range strings.Split(plain.stdout, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 4 {
			continue
		}
		if want := map[bool]string{true: "no", false: "yes"}[fields[0] == "tm-2"]; fields[0] != "NODE" && fields[3] != want {
			t.Errorf("facts table: %s REACHABLE %q, want %q", fields[0], fields[3], want)
		}
	}
}
