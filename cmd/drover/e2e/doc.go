// Package e2e holds drover's end-to-end tier: the real drover binary, run as
// a subprocess the way an operator runs it, against a cluster of real
// OpenSSH sshd nodes (transport/sshdtest), each serving a simulated API
// Manager (tasks/apim/apimsim). The package has no code of its own; its
// tests build the binary and the simulator once, lay out an 8-node cluster
// (2 control planes, 2 traffic managers, 4 gateways) per test, and check
// what the commands print and exit with, and what they did to the nodes:
// update levels, the simulator's lifecycle events (order and capacity),
// journals, locks, persisted data and run records.
//
// safety_test.go walks the rollout-safety cases of issue 10 as an operator
// would: a peer stopped by hand (with and without --limit), a kill during
// the health gate then apply, a rollback after the pack was rebuilt, a
// configuration edit between runs, a secret in a managed template, and a
// wrong-release pack or a full disk (a small tmpfs, mounted as root)
// refused before any change.
//
// The tier skips without sshd (and fails instead when CI or
// DROVER_TEST_REQUIRE_SSHD=1 is set), and skips under -short.
package e2e
