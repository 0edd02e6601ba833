package catalog

// The release table. Each value is pinned to the facts by catalog_test.go.

var (
	profiles3x = []string{"api-key-manager", "traffic-manager", "api-publisher", "api-devportal", ProfileGateway}
	setup3x    = []string{"api-key-manager", "api-publisher", "api-devportal", ProfileTrafficManager, ProfileGateway}
	osgi3x     = []string{"api-devportal", "api-key-manager", "api-publisher", "default", ProfileGateway, ProfileTrafficManager}

	profiles40 = []string{ProfileControlPlane, "api-key-manager-deprecated", "api-publisher-deprecated", "api-devportal-deprecated", ProfileTrafficManager, ProfileGateway}
	setup40    = []string{"api-key-manager-deprecated", "api-publisher-deprecated", "api-devportal-deprecated", ProfileControlPlane, ProfileTrafficManager, ProfileGateway}
	osgi4x     = []string{"api-devportal-deprecated", "api-key-manager-deprecated", "api-publisher-deprecated", ProfileControlPlane, "default", ProfileGateway, ProfileTrafficManager}

	profiles42 = []string{ProfileControlPlane, "api-key-manager-deprecated", ProfileTrafficManager, ProfileGateway}
	setup42    = []string{"api-key-manager-deprecated", ProfileControlPlane, ProfileTrafficManager, ProfileGateway}

	profiles43 = []string{ProfileControlPlane, "api-key-manager-node", ProfileTrafficManager, ProfileGateway}
	setup43    = []string{"api-key-manager-node", ProfileControlPlane, ProfileTrafficManager, ProfileGateway}

	profiles45 = []string{ProfileControlPlane, ProfileKeyManager, ProfileAllInOne, ProfileTrafficManager, ProfileGateway}
)

// single describes a release that ships one pack, run with every profile.
type single struct {
	version, kernel, h2 string
	format              int
	script              string
	profiles, setup     []string
	osgi                []string
	jdkMin, jdkMax      int
}

// split describes a 4.5+ release: the all-in-one pack and the three split packs.
type split struct {
	version, kernel string
	jdkMin, jdkMax  int
}

func build() []*Release {
	var out []*Release
	for _, s := range []single{
		{"3.0.0", "4.5.1", "1.4.199", 1, "bin/wso2server.sh", profiles3x, setup3x, osgi3x, 7, 11},
		{"3.1.0", "4.6.0", "1.4.199", 1, "bin/wso2server.sh", profiles3x, setup3x, osgi3x, 7, 11},
		{"3.2.0", "4.6.0", "1.4.199", 1, "bin/wso2server.sh", profiles3x, setup3x, osgi3x, 7, 11},
		{"4.0.0", "4.6.2", "1.4.199", 1, "bin/api-manager.sh", profiles40, setup40, osgi4x, 7, 11},
		{"4.1.0", "4.6.3", "2.1.210", 2, "bin/api-manager.sh", profiles40, setup40, osgi4x, 7, 11},
		{"4.2.0", "4.8.1", "2.1.210", 2, "bin/api-manager.sh", profiles42, setup42, osgi4x, 11, 17},
		{"4.3.0", "4.9.26", "2.2.224", 3, "bin/api-manager.sh", profiles43, setup43, osgi4x, 11, 21},
		{"4.4.0", "4.9.27", "2.3.232", 3, "bin/api-manager.sh", profiles43, setup43, osgi4x, 11, 21},
	} {
		r := &Release{
			Version: s.version, Kernel: s.kernel, H2Engine: s.h2, H2Format: s.format,
			IndexMovable: s.version != "3.0.0", GatewayHealth: !Less(s.version, "4.1.0"),
			JDKMin: s.jdkMin, JDKMax: s.jdkMax, Profiles: s.profiles,
		}
		r.Distributions = []*Distribution{{
			Name: AllInOne, Release: r, Product: "wso2am-" + s.version, ServerName: "WSO2 API Manager",
			Script: s.script, Setup: s.setup, SkipConfigOptimization: s.version != "3.0.0",
			OSGi: s.osgi, Runs: s.profiles, GatewayHealth: r.GatewayHealth,
		}}
		out = append(out, r)
	}
	for _, s := range []split{
		{"4.5.0", "4.9.28", 11, 21},
		{"4.6.0", "4.9.33", 11, 21},
		{"4.7.0", "4.11.18", 21, 25},
	} {
		r := &Release{
			Version: s.version, Kernel: s.kernel, H2Engine: "2.3.232", H2Format: 3,
			IndexMovable: true, GatewayHealth: true, JDKMin: s.jdkMin, JDKMax: s.jdkMax,
			Profiles: profiles45,
			defaults: map[string]string{
				ProfileControlPlane: APIControlPlane, ProfileKeyManager: APIControlPlane,
				ProfileTrafficManager: TrafficManager, ProfileGateway: UniversalGateway,
				ProfileAllInOne: AllInOne,
			},
		}
		r.Distributions = []*Distribution{
			{
				Name: AllInOne, Release: r, Product: "wso2am-" + s.version, ServerName: "WSO2 API Manager",
				Script: "bin/api-manager.sh", OSGi: osgi4x, GatewayHealth: true,
				Runs: []string{ProfileAllInOne, ProfileControlPlane, ProfileTrafficManager, ProfileGateway},
			},
			{
				Name: APIControlPlane, Release: r, Product: "wso2am-acp-" + s.version, ServerName: "WSO2 API Control Plane",
				Script: "bin/api-cp.sh", KeyManagerScript: "bin/key-manager.sh",
				Setup: []string{ProfileKeyManager}, SkipConfigOptimization: true, OSGi: []string{"default"},
				Runs: []string{ProfileControlPlane, ProfileKeyManager},
			},
			{
				Name: UniversalGateway, Release: r, Product: "wso2am-universal-gw-" + s.version, ServerName: "WSO2 Universal Gateway",
				Script: "bin/gateway.sh", OSGi: []string{"default"}, GatewayHealth: true,
				Runs: []string{ProfileGateway},
			},
			{
				Name: TrafficManager, Release: r, Product: "wso2am-tm-" + s.version, ServerName: "WSO2 Traffic Manager",
				Script: "bin/traffic-manager.sh", OSGi: []string{"default"},
				Runs: []string{ProfileTrafficManager},
			},
		}
		out = append(out, r)
	}
	return out
}
