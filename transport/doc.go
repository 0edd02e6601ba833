// Package transport is drover's SSH client: one *Client per node, dialled
// with a context that bounds the TCP connect and the handshake, verified
// against known_hosts, authenticated with identity files, the ssh-agent and
// ~/.ssh/config, optionally through a chain of jump hosts, and kept alive
// with keepalive@openssh.com requests so that a dead node is noticed within
// seconds.
//
// Every step of a run reuses the node's Client: Run executes shell commands
// (optionally through sudo), Upload and Download move files over SFTP,
// DialTCP reaches ports on the node's own loopback. ForEach fans an action
// out over many nodes without letting one node's failure stop the others.
//
// Errors are typed: *ExitError means the command ran and exited non-zero,
// *ConnError means the connection could not be made or broke, *HostKeyError
// means the node's host key was unknown or changed and nothing was run.
package transport
