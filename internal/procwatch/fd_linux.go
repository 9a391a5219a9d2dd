package procwatch

import (
	"os"
	"syscall"
)

// selfDescriptors counts this process's descriptors in /proc/self/fd (the
// directory's own descriptor, open while it is read, is not counted) and
// reads RLIMIT_NOFILE's soft limit.
func selfDescriptors() (open, limit int, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, err
	}
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 0, 0, err
	}
	return max(len(names)-1, 0), int(min(rl.Cur, 1<<31-1)), nil
}
