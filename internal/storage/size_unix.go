//go:build unix

package storage

import (
	"io/fs"
	"syscall"
)

// diskUsage is the space a file's allocated blocks take, like du.
func diskUsage(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return info.Size()
}
