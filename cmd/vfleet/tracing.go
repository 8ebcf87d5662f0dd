package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vfleet/vfleet/internal/tracing"
)

// traced runs run with the process exporting its spans as service, when
// the OTEL_* environment asks for that, and flushes them on the way out.
func traced(ctx context.Context, service string, run func() error) error {
	shutdown, err := tracing.Setup(ctx, service, os.Getenv)
	if err != nil {
		return fmt.Errorf("traces: %w", err)
	}
	err = run()
	// The spans of the last moments are worth a short wait, not a hang
	// on a collector that is gone.
	flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return errors.Join(err, shutdown(flush))
}
