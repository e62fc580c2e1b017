package storage

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// slogAdapter implements badger.Logger on slog. Badger is chatty at info
// level (every compaction and flush); the replica only wants to hear about
// warnings and errors, so Infof and Debugf are dropped.
//
// It also feeds error messages to the fault latch, which turns the one fsync
// failure Badger logs instead of returning into an error (see faultLatch).
type slogAdapter struct {
	l     *slog.Logger
	fault *faultLatch
}

func newSlogAdapter(l *slog.Logger, fault *faultLatch) slogAdapter {
	if l == nil {
		l = slog.Default()
	}
	return slogAdapter{l: l.With("component", "badger"), fault: fault}
}

func (a slogAdapter) Errorf(format string, args ...any) {
	a.fault.observe(format, strings.TrimSpace(fmt.Sprintf(format, args...)))
	a.log(slog.LevelError, format, args)
}

func (a slogAdapter) Warningf(format string, args ...any) {
	a.log(slog.LevelWarn, format, args)
}

func (a slogAdapter) Infof(string, ...any) {}

func (a slogAdapter) Debugf(string, ...any) {}

func (a slogAdapter) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	// Badger's messages end in newlines meant for a plain text logger.
	a.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(format, args...)))
}
