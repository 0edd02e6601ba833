//go:build race

package e2e

// raceEnabled: the tests run under the race detector, so drover is built
// with it too and a data race in drover fails the run that hit it.
const raceEnabled = true
