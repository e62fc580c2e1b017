package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// removeEmptyLogFiles deletes the empty memtable (.mem) and value-log
// (.vlog) files a crash can leave in dir. Badger creates such a file, then
// sizes it, then writes it; a process killed between the first two steps
// leaves it empty, and badger v4.9.6 then refuses to open the directory
// ("while opening fid: N err: Create a new file", dgraph-io/badger#2207):
// the replica could never start again. An empty file holds no data, so
// removing it loses nothing; Badger creates the file anew when it needs it.
//
// It runs under Badger's own directory lock (flock on the directory), so it
// never touches the files of a store another process has open; if the lock
// is taken it does nothing and Badger's open reports the conflict.
func removeEmptyLogFiles(dir string, logger *slog.Logger) error {
	unlock, ok, err := lockDir(dir)
	if err != nil || !ok {
		return err
	}
	defer unlock()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("storage: open %q: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".mem") && !strings.HasSuffix(name, ".vlog") {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("storage: open %q: %w", dir, err)
		}
		if info.Size() != 0 {
			continue
		}
		path := filepath.Join(dir, name)
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("storage: remove the empty %s a crash left: %w", name, err)
		}
		if logger == nil {
			logger = slog.Default()
		}
		logger.Warn("storage: removed an empty file a crash left while Badger created it", "file", path)
	}
	return nil
}
