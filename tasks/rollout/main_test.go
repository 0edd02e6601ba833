package rollout_test

import (
	"testing"

	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
)

// TestMain removes what the lab tests share when they are done.
func TestMain(m *testing.M) { labtest.Main(m) }
