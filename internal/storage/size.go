package storage

import (
	"io/fs"
	"path/filepath"
)

// Size reports the disk space the store occupies: lsm is the SST files,
// vlog the value-log files, the memtable write-ahead logs (.mem) and the
// protocol log's segments (.seg), which is where recent writes live. It counts allocated blocks where
// the platform says (Badger's log files are preallocated sparse, so their
// apparent size overstates use), and walks the directory on every call
// because Badger's own Size is refreshed only once a minute.
func (db *DB) Size() (lsm, vlog int64) {
	if db.dir == "" {
		return 0, 0
	}
	_ = filepath.WalkDir(db.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // a file vanishing mid-walk (compaction) is not an error
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		switch filepath.Ext(path) {
		case ".sst":
			lsm += diskUsage(info)
		case ".vlog", ".mem", segmentSuffix:
			vlog += diskUsage(info)
		}
		return nil
	})
	return lsm, vlog
}
