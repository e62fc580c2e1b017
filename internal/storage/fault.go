package storage

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ErrSyncFailed means an fsync of the store failed. It is sticky: after a
// failed fsync the kernel may have dropped the dirty pages, so no later write
// can be trusted to be durable and the replica must stop.
var ErrSyncFailed = errors.New("storage: fsync failed")

// faultLatch records fsync failures that Badger logs instead of returning.
// With SyncWrites, badger v4.9.6 syncs the value-log file in a deferred call
// of valueLog.write that only logs its error ("Error while curlf sync: ...",
// value.go), so a commit whose large values were not made durable would
// still report success. The logger adapter spots that message and latches
// it; every write checks the latch after committing. The message is set by
// the Badger goroutine before it completes the commit, so the committing
// caller sees it.
type faultLatch struct {
	mu  sync.Mutex
	err error
}

// badgerSyncFailure is the prefix of Badger's swallowed value-log fsync error.
const badgerSyncFailure = "Error while curlf sync"

// observe latches err if an Errorf format reports a swallowed fsync failure.
func (f *faultLatch) observe(format, msg string) {
	if f == nil || !strings.HasPrefix(format, badgerSyncFailure) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = fmt.Errorf("%w: badger: %s", ErrSyncFailed, msg)
	}
}

func (f *faultLatch) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
