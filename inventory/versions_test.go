package inventory

import (
	"slices"
	"testing"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want Version
		err  bool
	}{
		{"4.4.0", Version{4, 4, 0}, false},
		{"3.2", Version{3, 2, 0}, false},
		{" 4.5.1 ", Version{4, 5, 1}, false},
		{"4", Version{}, true},
		{"4.4.0.1", Version{}, true},
		{"4.x.0", Version{}, true},
		{"4.-1.0", Version{}, true},
		{"", Version{}, true},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestDefaultsFor(t *testing.T) {
	threeX := []string{"api-key-manager", "traffic-manager", "api-publisher", "api-devportal", "gateway-worker"}
	tests := []struct {
		version   string
		profiles  []string
		optimized []string
		scripts   map[string]string // profile -> script, spot checks
		persist   []string
		skipOpt   bool
	}{
		{"3.0.0", threeX, threeX, map[string]string{"gateway-worker": "bin/wso2server.sh"},
			[]string{"repository/database"}, false},
		{"3.1.0", threeX, threeX, map[string]string{"api-key-manager": "bin/wso2server.sh"},
			[]string{"solr/data", "repository/database"}, true},
		{"3.2.0", threeX, threeX, map[string]string{"api-devportal": "bin/wso2server.sh"},
			[]string{"solr/data", "repository/database"}, true},
		{"4.0.0",
			[]string{"control-plane", "api-key-manager-deprecated", "api-publisher-deprecated", "api-devportal-deprecated", "traffic-manager", "gateway-worker"},
			[]string{"control-plane", "api-key-manager-deprecated", "api-publisher-deprecated", "api-devportal-deprecated", "traffic-manager", "gateway-worker"},
			map[string]string{"control-plane": "bin/api-manager.sh", "api-publisher-deprecated": "bin/api-manager.sh"},
			[]string{"solr/data", "repository/database"}, true},
		{"4.1.0",
			[]string{"control-plane", "api-key-manager-deprecated", "api-publisher-deprecated", "api-devportal-deprecated", "traffic-manager", "gateway-worker"},
			nil, map[string]string{"gateway-worker": "bin/api-manager.sh"},
			[]string{"solr/data", "repository/database"}, true},
		{"4.2.0",
			[]string{"control-plane", "api-key-manager-deprecated", "traffic-manager", "gateway-worker"},
			[]string{"control-plane", "api-key-manager-deprecated", "traffic-manager", "gateway-worker"},
			map[string]string{"traffic-manager": "bin/api-manager.sh"},
			[]string{"solr/data", "repository/database"}, true},
		{"4.3.0",
			[]string{"control-plane", "api-key-manager-node", "traffic-manager", "gateway-worker"},
			[]string{"control-plane", "api-key-manager-node", "traffic-manager", "gateway-worker"},
			map[string]string{"api-key-manager-node": "bin/api-manager.sh"},
			[]string{"solr/data", "repository/database"}, true},
		{"4.4.0",
			[]string{"control-plane", "api-key-manager-node", "traffic-manager", "gateway-worker"},
			nil, map[string]string{"gateway-worker": "bin/api-manager.sh"},
			[]string{"solr/data", "repository/database"}, true},
		{"4.5.0",
			[]string{"control-plane", "key-manager", "traffic-manager", "gateway-worker"},
			[]string{"key-manager"},
			map[string]string{"control-plane": "bin/api-cp.sh", "key-manager": "bin/key-manager.sh",
				"traffic-manager": "bin/traffic-manager.sh", "gateway-worker": "bin/gateway.sh"},
			[]string{"solr/data", "repository/database"}, true},
		{"5.0.0",
			[]string{"control-plane", "key-manager", "traffic-manager", "gateway-worker"},
			[]string{"key-manager"}, map[string]string{"gateway-worker": "bin/gateway.sh"},
			[]string{"solr/data", "repository/database"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			v, err := ParseVersion(tt.version)
			if err != nil {
				t.Fatal(err)
			}
			d, err := DefaultsFor(v)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.Profiles, tt.profiles) {
				t.Errorf("Profiles = %q, want %q", d.Profiles, tt.profiles)
			}
			if tt.optimized != nil && !slices.Equal(d.Optimized, tt.optimized) {
				t.Errorf("Optimized = %q, want %q", d.Optimized, tt.optimized)
			}
			for p, s := range tt.scripts {
				if d.Script[p] != s {
					t.Errorf("Script[%s] = %q, want %q", p, d.Script[p], s)
				}
			}
			for _, p := range d.Profiles {
				if d.Script[p] == "" {
					t.Errorf("profile %s has no startup script", p)
				}
			}
			if !slices.Equal(d.Persist, tt.persist) {
				t.Errorf("Persist = %q, want %q", d.Persist, tt.persist)
			}
			if !slices.Equal(d.OptionalPersist, []string{"repository/data"}) {
				t.Errorf("OptionalPersist = %q", d.OptionalPersist)
			}
			if d.SkipConfigOptimization != tt.skipOpt {
				t.Errorf("SkipConfigOptimization = %v, want %v", d.SkipConfigOptimization, tt.skipOpt)
			}
			if !d.IsGateway("gateway-worker") || d.IsGateway("control-plane") {
				t.Errorf("IsGateway is wrong: %q", d.GatewayProfiles)
			}
			for _, p := range tt.profiles {
				if !d.ValidProfile(p) {
					t.Errorf("ValidProfile(%q) = false", p)
				}
			}
			if d.ValidProfile("default") {
				t.Error(`ValidProfile("default") = true`)
			}
		})
	}
	if _, err := DefaultsFor(Version{2, 6, 0}); err == nil {
		t.Error("DefaultsFor(2.6.0) accepted an unsupported release")
	}
}

func TestAmountOf(t *testing.T) {
	tests := []struct {
		a     Amount
		total int
		want  int
	}{
		{Amount{N: 1}, 4, 1},
		{Amount{N: 3}, 4, 3},
		{Amount{N: 9}, 4, 4}, // never more than the group
		{Amount{N: 2}, 0, 1}, // never below 1
		{Amount{N: 25, Percent: true}, 4, 1},
		{Amount{N: 50, Percent: true}, 4, 2},
		{Amount{N: 50, Percent: true}, 5, 2}, // rounded down
		{Amount{N: 10, Percent: true}, 4, 1}, // at least 1
		{Amount{N: 100, Percent: true}, 4, 4},
		{Amount{N: 100, Percent: true}, 1, 1},
		{Amount{N: 99, Percent: true}, 100, 99},
	}
	for _, tt := range tests {
		if got := tt.a.Of(tt.total); got != tt.want {
			t.Errorf("%s.Of(%d) = %d, want %d", tt.a, tt.total, got, tt.want)
		}
	}
	if s := (Amount{N: 25, Percent: true}).String(); s != "25%" {
		t.Errorf("String() = %q", s)
	}
}
