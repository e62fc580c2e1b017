//go:build !unix

package storage

import "io/fs"

// diskUsage falls back to the apparent size where block counts are not
// available.
func diskUsage(info fs.FileInfo) int64 { return info.Size() }
