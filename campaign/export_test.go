package campaign

import (
	"context"
	"time"
)

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

func (e *eng[TD, TTx]) claimAny(ctx context.Context, r *jrow, mchID string, now time.Time, l Limits) (bool, string, error) {
	return e.claim(ctx, r, mchID, now, now.Add(time.Minute), l)
}

func (e *eng[TD, TTx]) queryIntAny(ctx context.Context, dest *int64, q string, args ...any) error {
	return e.db.queryRow(ctx, q, args, dest)
}

func (e *eng[TD, TTx]) applyAny(ctx context.Context, r *jrow, u *update) error {
	return e.inTx(ctx, func(tx TTx) error { return e.apply(ctx, tx, r, u, time.Now()) })
}

func (e *eng[TD, TTx]) beginSettleAny(ctx context.Context, r *jrow, now, deadline time.Time) (bool, error) {
	return e.beginSettle(ctx, r, now, deadline)
}
