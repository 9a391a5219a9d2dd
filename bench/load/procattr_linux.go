package main

import (
	"fmt"
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill the child if the benchmark itself
// dies without stopping it (kill -9, a crash), so no server is left behind.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// raiseFileLimit raises the soft open-file limit to the hard one and
// returns it. The Go runtime raises its own soft limit at start but hands
// children the original one unless the program sets the limit itself: set
// here (even to the value it has), it is inherited by the gateway and the
// mocks the benchmark starts.
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("reading the open-file limit: %w", err)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("raising the open-file limit to %d: %w", l.Max, err)
	}
	return l.Cur, nil
}
