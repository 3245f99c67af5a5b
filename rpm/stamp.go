package rpm

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Stamp identifies one state of a package file: its device, inode, size and
// modification and change times. The kernel sets the change time on every
// write, truncation and rename over the path, and no caller can set it back:
// a file whose stamp is unchanged since it was verified holds the bytes that
// were verified, provided its last change was long enough before (Settled).
// The one change a stamp misses is a write through a shared writable memory
// map whose page was already dirty when the file was stamped.
type Stamp struct {
	Dev, Ino     uint64
	Size         int64
	Mtime, Ctime int64 // Unix nanoseconds
	// Settled is true when the file lies on a local file system and last
	// changed more than settleTime before it was stamped: a later change then
	// gets a change time of its own, even with coarse timestamps. Otherwise
	// the bytes must be hashed again to know they are the verified ones.
	Settled bool
}

// settleTime is far above any file system's timestamp granularity (a
// kernel tick at most for ext4, xfs and btrfs).
const settleTime = 2 * time.Second

// localFS are the file systems whose change times the kernel keeps itself.
// A network file system's attributes may be cached, or set by a server.
var localFS = map[int64]bool{
	unix.EXT4_SUPER_MAGIC:  true, // ext2, ext3 and ext4 share it
	unix.XFS_SUPER_MAGIC:   true,
	unix.BTRFS_SUPER_MAGIC: true,
	unix.TMPFS_MAGIC:       true,
}

// StampOf stamps the open file f at now.
func StampOf(f *os.File, now time.Time) (Stamp, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return Stamp{}, fmt.Errorf("%s: %w", f.Name(), err)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &fs); err != nil {
		return Stamp{}, fmt.Errorf("%s: %w", f.Name(), err)
	}
	s := Stamp{
		Dev: st.Dev, Ino: st.Ino, Size: st.Size,
		Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(),
	}
	s.Settled = localFS[int64(fs.Type)] && s.Ctime < now.Add(-settleTime).UnixNano()
	return s, nil
}

// Same reports whether s and o are the same state of the same file.
func (s Stamp) Same(o Stamp) bool {
	return s.Dev == o.Dev && s.Ino == o.Ino && s.Size == o.Size && s.Mtime == o.Mtime && s.Ctime == o.Ctime
}
