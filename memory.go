package bulwark

import (
	"context"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// DefaultMemoryLimit is a replica process's soft Go memory limit unless
// GOMEMLIMIT sets another. Under sustained load the heap swings by tens of
// megabytes at every Badger memtable flush (its table builder buffers) and
// every checkpoint's snapshot; with only GOGC=100 the GC let a replica
// serving 1,024 concurrent operations settle at 330-360 MB resident; with
// this limit it stays near 200-230 MB at the same throughput. A replica
// whose live state outgrows it still runs: the GC then works harder (Go
// caps that at about half the CPU), and GOMEMLIMIT raises or (off) removes
// the limit.
const DefaultMemoryLimit = 192 << 20

// releaseEvery is how often a replica process hands memory the heap no
// longer uses back to the operating system. After a burst (an attack, a
// state transfer) the Go runtime would otherwise keep it until its next
// collection, which a quiet replica may not need for minutes; one forced
// collection every few seconds costs milliseconds.
const releaseEvery = 10 * time.Second

// ApplyMemoryPolicy sets the process's memory limit (DefaultMemoryLimit
// unless GOMEMLIMIT is set) and, until ctx ends, returns freed memory to the
// operating system every few seconds. StartReplica applies the same policy
// itself (see ReplicaOptions.MemoryLimit); ApplyMemoryPolicy is for a
// process that wants it before its replicas start.
func ApplyMemoryPolicy(ctx context.Context) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
	go releaseMemory(ctx)
}

// releaseMemory hands freed memory back every releaseEvery until ctx ends.
func releaseMemory(ctx context.Context) {
	t := time.NewTicker(releaseEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			debug.FreeOSMemory()
		}
	}
}

// memoryPolicy is the process-wide state of the replicas' memory policy:
// the soft limit is the sum of the limits of the replicas running, and one
// goroutine releases memory while any runs.
var memoryPolicy struct {
	mu      sync.Mutex
	total   int64
	running int
	stop    context.CancelFunc
}

// holdMemoryPolicy adds a replica's limit to the process's soft memory
// limit (unless GOMEMLIMIT is set, which always wins) and returns what
// takes it back. limit < 0 leaves the runtime alone.
func holdMemoryPolicy(limit int64) (release func()) {
	if limit < 0 {
		return func() {}
	}
	if limit == 0 {
		limit = DefaultMemoryLimit
	}
	_, envSet := os.LookupEnv("GOMEMLIMIT")
	m := &memoryPolicy
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total += limit
	m.running++
	if !envSet {
		debug.SetMemoryLimit(m.total)
	}
	if m.running == 1 {
		ctx, cancel := context.WithCancel(context.Background())
		m.stop = cancel
		go releaseMemory(ctx)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.total -= limit
			m.running--
			if !envSet {
				debug.SetMemoryLimit(max(m.total, DefaultMemoryLimit))
			}
			if m.running == 0 {
				m.stop()
			}
		})
	}
}
