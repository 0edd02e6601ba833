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
	split := []string{"control-plane", "key-manager", "all-in-one", "traffic-manager", "gateway-worker"}
	tests := []struct {
		version  string
		profiles []string
	}{
		{"3.0.0", threeX},
		{"3.1.0", threeX},
		{"3.2.0", threeX},
		{"4.0.0", []string{"control-plane", "api-key-manager-deprecated", "api-publisher-deprecated", "api-devportal-deprecated", "traffic-manager", "gateway-worker"}},
		{"4.1.0", []string{"control-plane", "api-key-manager-deprecated", "api-publisher-deprecated", "api-devportal-deprecated", "traffic-manager", "gateway-worker"}},
		{"4.2.0", []string{"control-plane", "api-key-manager-deprecated", "traffic-manager", "gateway-worker"}},
		{"4.3.0", []string{"control-plane", "api-key-manager-node", "traffic-manager", "gateway-worker"}},
		{"4.4.0", []string{"control-plane", "api-key-manager-node", "traffic-manager", "gateway-worker"}},
		{"4.5.0", split},
		{"4.6.0", split},
		{"4.7.0", split},
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
			// every release keeps its index in solr/data (3.0 cannot move it)
			if want := []string{"solr/data", "repository/database"}; !slices.Equal(d.Persist, want) {
				t.Errorf("Persist = %q, want %q", d.Persist, want)
			}
			if !slices.Equal(d.OptionalPersist, []string{"repository/data"}) {
				t.Errorf("OptionalPersist = %q", d.OptionalPersist)
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
	for _, v := range []Version{{2, 6, 0}, {5, 0, 0}, {4, 8, 0}} {
		if _, err := DefaultsFor(v); err == nil {
			t.Errorf("DefaultsFor(%s) accepted a release drover does not know", v)
		}
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
