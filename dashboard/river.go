package dashboard

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"riverqueue.com/riverui"

	"github.com/redpack-go/redpack/campaign"
)

// riverPrefix is where River's own UI is mounted.
const riverPrefix = "/river"

// riverCSP is the Content-Security-Policy of River's UI, the dashboard's
// own relaxed only as far as that single-page application needs: its
// components set style elements at run time and its stylesheet draws
// icons from data: URLs. Scripts still come only from the binary, and
// framing stays forbidden.
const riverCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// riverUI is River's UI (riverqueue.com/riverui, its assets embedded in
// that module) over the store's job tables, on either driver, started
// until ctx is done. Its write actions (cancel, retry and delete jobs;
// pause, resume and change queues) are POST, PUT and PATCH requests,
// which Server.ServeHTTP refuses before they reach it.
func riverUI(ctx context.Context, s *campaign.Store, logger *slog.Logger) (http.Handler, error) {
	switch drv := s.RiverDriver().(type) {
	case *riverpgxv5.Driver:
		return newRiverUI(ctx, drv, logger)
	case *riversqlite.Driver:
		return newRiverUI(ctx, drv, logger)
	default:
		return nil, fmt.Errorf("river UI: no support for the driver %T", drv)
	}
}

func newRiverUI[TTx any](ctx context.Context, drv riverdriver.Driver[TTx], logger *slog.Logger) (http.Handler, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// A client without queues or workers: it works no job, only reads
	// River's tables for the UI.
	client, err := river.NewClient(drv, &river.Config{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(client, nil),
		Logger:    logger,
		Prefix:    riverPrefix,
	})
	if err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	if err := h.Start(ctx); err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	return h, nil
}
