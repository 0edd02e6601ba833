package transport

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// ForEach calls fn for every item, at most limit at once (limit < 1 means no
// limit), and returns the error of each item by index. One item's error
// never cancels the others: fn gets ctx itself, not a group context.
func ForEach[T any](ctx context.Context, items []T, limit int, fn func(ctx context.Context, i int, item T) error) []error {
	errs := make([]error, len(items))
	var g errgroup.Group
	if limit > 0 {
		g.SetLimit(limit)
	}
	for i, item := range items {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				errs[i] = err
				return nil
			}
			errs[i] = fn(ctx, i, item)
			return nil
		})
	}
	g.Wait()
	return errs
}
