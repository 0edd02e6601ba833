package tasks

import (
	"context"
	"fmt"
)

// inPlaceSteps is the in-place strategy: the update tool runs on each
// node's own release.
func inPlaceSteps() []Step {
	return []Step{
		preflightStep(),
		{
			Name: "update",
			Probe: func(ctx context.Context, j *Job) (Change, error) {
				return Change{}, fmt.Errorf("the in-place strategy is not implemented yet; use strategy = \"side-by-side\"")
			},
			Apply: func(ctx context.Context, j *Job) error {
				return fmt.Errorf("the in-place strategy is not implemented yet")
			},
		},
	}
}

func (j *Job) rollbackInPlace(ctx context.Context) error {
	return fmt.Errorf("the in-place strategy is not implemented yet")
}
