package bulwark

import (
	"context"
	"os"
	"runtime/debug"
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
// operating system every few seconds. A process hosting a replica calls it
// once; an embedder that manages the Go runtime itself need not.
func ApplyMemoryPolicy(ctx context.Context) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
	go func() {
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
	}()
}
