package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill the child if the benchmark itself
// dies without stopping it (kill -9, a crash), so no server is left behind.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
