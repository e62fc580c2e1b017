package driver_test

import (
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark/internal/storage"
	"github.com/bulwark-bft/bulwark/pbft"
)

// A replica stopped cleanly writes what its store held back: every batch
// it executed is on disk, as after a synced write.
func TestCleanStopWritesTheHeldBackRecords(t *testing.T) {
	c := newCluster(t, 4, 1000) // no checkpoint: the committed batches stay in the log
	c.run(40, 4, "s")
	c.converge(30 * time.Second)
	last := c.status(1).LastExecuted
	if last == 0 {
		t.Fatal("nothing executed")
	}
	c.stop(1)
	db, err := storage.Open(storage.Options{Dir: c.dataDir(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for seq := uint64(1); seq <= last; seq++ {
		if recs, err := db.LoadAt(storage.Kind(pbft.RecordCommitted), seq); err != nil || len(recs) == 0 {
			t.Fatalf("batch %d of the %d executed is not on disk after a clean stop (%v)", seq, last, err)
		}
	}
}
