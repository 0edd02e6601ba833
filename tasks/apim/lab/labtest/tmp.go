package labtest

import "os"

// tempDir is a directory for the simulator binary that outlives single
// tests (t.TempDir would be removed after the first one).
func tempDir() (string, error) { return os.MkdirTemp("", "drover-apimsim-") }
