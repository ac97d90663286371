package campaign

import "context"

// Test hooks into the engine, whatever its driver.

func (e *eng[TD, TTx]) loadRowAny(ctx context.Context, campaign string, row int64) (*jrow, error) {
	return e.loadRow(ctx, campaign, row)
}

func (e *eng[TD, TTx]) execAny(ctx context.Context, q string, args ...any) error {
	return e.inTx(ctx, func(tx TTx) error {
		_, err := e.db.exec(ctx, tx, q, args...)
		return err
	})
}
