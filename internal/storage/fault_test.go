package storage

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestSwallowedSyncFailureIsSticky feeds the adapter the value-log fsync
// error Badger logs instead of returning; every later write must fail.
func TestSwallowedSyncFailureIsSticky(t *testing.T) {
	db, _ := openTemp(t)
	mustWrite(t, db, true, Record{Kind: KindPrepare, Sequence: 1})
	newSlogAdapter(slog.New(slog.DiscardHandler), db.fault).Errorf("Error while curlf sync: %v\n", errors.New("input/output error"))
	for range 2 {
		err := db.Write([]Record{{Kind: KindPrepare, Sequence: 2}}, true)
		if !errors.Is(err, ErrSyncFailed) || !strings.Contains(err.Error(), "input/output error") {
			t.Fatalf("Write after fsync failure: %v, want ErrSyncFailed", err)
		}
	}
	if err := db.PutSnapshot(1, []byte("s"), 0); !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("PutSnapshot after fsync failure: %v, want ErrSyncFailed", err)
	}
}

func TestLoggerWarnAndUp(t *testing.T) {
	var buf bytes.Buffer
	a := newSlogAdapter(slog.New(slog.NewTextHandler(&buf, nil)), nil)
	a.Debugf("debug %d\n", 1)
	a.Infof("info %d\n", 2)
	a.Warningf("warn %d\n", 3)
	a.Errorf("error %d\n", 4)
	out := buf.String()
	if strings.Contains(out, "debug 1") || strings.Contains(out, "info 2") {
		t.Errorf("info/debug leaked: %s", out)
	}
	if !strings.Contains(out, `level=WARN msg="warn 3" component=badger`) || !strings.Contains(out, `level=ERROR msg="error 4"`) {
		t.Errorf("warn/error missing or not trimmed: %s", out)
	}
}
