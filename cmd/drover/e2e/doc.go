// Package e2e holds drover's end-to-end tier: the real drover binary, run as
// a subprocess the way an operator runs it, against a cluster of real
// OpenSSH sshd nodes (transport/sshdtest), each serving a simulated API
// Manager (tasks/apim/apimsim). The package has no code of its own; its
// tests build the binary and the simulator once, lay out a cluster per test
// (by default 8 API Manager 4.4.0 nodes: 2 control planes, 2 traffic
// managers, 4 gateways; a test may choose another release and node list),
// and check what the commands print and exit with, and what they did to the
// nodes: update levels, the simulator's lifecycle events (order and
// capacity), journals, locks, persisted data and run records.
//
// safety_test.go walks the rollout-safety cases of issue 10 as an operator
// would: a peer stopped by hand (with and without --limit), a kill during
// the health gate then apply, a rollback after the pack was rebuilt, a
// configuration edit between runs, a secret in a managed template, and a
// wrong-release pack or a full disk (a small tmpfs, mounted as root)
// refused before any change.
//
// release_test.go runs other releases end to end: a 3.2.0 cluster of the 3.x
// profiles (bin/wso2server.sh -Dprofile=..., profileSetup.sh per profile,
// the release's own rollout order), a 4.7.0 cluster on the split
// distributions (a pack per profile, each node its own product and script,
// then a rollback of one gateway), and a gateway pack pointed at the traffic
// manager's, refused with nothing changed.
//
// config_test.go walks configuration as desired state (issue 13): a changed
// gateway template rolled out as a reconfiguration after an update, a file
// edited by hand on one node reported and converged, a template the server
// refuses rolled back on the first gateway with the run halted, the
// operator's carried files kept across an update, and jvm/env settings
// reaching the server and changed by a later reconfiguration.
//
// The tier skips without sshd (and fails instead when CI or
// DROVER_TEST_REQUIRE_SSHD=1 is set), and skips under -short.
package e2e
